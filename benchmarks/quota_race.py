"""Quota exactness under a race: many concurrent clients, several gateway processes, one Redis.

Starts ``aqta serve`` (gunicorn, gevent workers) on loopback, creates a pro key with
a monthly quota of N, fires more than N chat requests at it from many concurrent
clients, and counts the answers: exactly N must be admitted (200) and the rest
refused with 402 quota_exceeded.

    python benchmarks/quota_race.py --quota 500 --clients 64 --requests 1500 --workers 2
    python benchmarks/quota_race.py --embedded   # one process, SQLite counters, no Redis
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gateway.admission.quota_race import race  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quota", type=int, default=500)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--embedded", action="store_true", help="no Redis: one process, SQLite")
    args = parser.parse_args()
    redis_url = None if args.embedded else args.redis_url
    workers = 1 if args.embedded else args.workers
    started = time.monotonic()
    statuses = race(args.quota, args.clients, args.requests, workers, redis_url, args.database_url)
    elapsed = time.monotonic() - started
    admitted, refused = statuses.get(200, 0), statuses.get(402, 0)
    print(f"mode={'embedded' if args.embedded else 'redis'} workers={workers} clients={args.clients} "
          f"quota={args.quota} requests={args.requests} elapsed={elapsed:.1f}s")
    print(f"admitted (200): {admitted}   refused quota_exceeded (402): {refused}   "
          f"other: {dict((s, n) for s, n in statuses.items() if s not in (200, 402))}")
    exact = admitted == args.quota and refused == args.requests - args.quota
    print("EXACT" if exact else "NOT EXACT")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
