"""Loop detection on the labelled corpus: precision and recall per pattern, as a table.

    python benchmarks/loop_corpus.py [--redis redis://127.0.0.1:6379/0]

The corpus and its runner live with the tests (``tests/gateway/loops/``), which
assert on the same figures.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.gateway.loops.detector import MemoryLoopStore, RedisLoopStore  # noqa: E402
from tests.gateway.loops.corpus import run_corpus, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="replay through RedisLoopStore at this URL")
    args = parser.parse_args()
    if not args.redis:
        print(table(run_corpus(MemoryLoopStore())))
        return
    client = redis.Redis.from_url(args.redis)
    prefix = f"aqta:bench:{uuid.uuid4().hex}:"
    try:
        print(table(run_corpus(RedisLoopStore(client, prefix=prefix))))
    finally:  # leave nothing behind in a Redis a deployment may share
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


if __name__ == "__main__":
    main()
