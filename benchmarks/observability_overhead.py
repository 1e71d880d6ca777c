"""What observability costs a chat request: the metric calls and the access line, in microseconds.

Counters are measured in one process (the test client, ``flask run``) and in
prometheus_client's multi-process mode (``aqta serve``: memory-mapped files, one
set per gunicorn worker); the access line as text and as JSON (``LOG_FORMAT``),
written to /dev/null. Each mode runs in a fresh interpreter, since the client
picks its mode when it is first imported.

    python benchmarks/observability_overhead.py [--requests 100000]
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def per_request_us(requests: int, call) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        call()
    return (time.perf_counter() - started) / requests * 1e6


def measure_metrics(requests: int) -> float:
    from app.metrics.series import count_chat, count_http

    def one() -> None:
        count_http("POST", "/v1/chat/completions", 200)
        count_chat(provider="openai", model="gpt-4o", status="ok", cached=False, error_code=None,
                   latency_seconds=0.8, first_token_seconds=0.2, cost=Decimal("0.00012345"))

    return per_request_us(requests, one)


def measure_access_line(requests: int, log_format: str) -> float:
    from app.logs import formatter

    logger = logging.getLogger(f"bench.access.{log_format}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(open(os.devnull, "w"))
    handler.setFormatter(formatter(log_format))
    logger.addHandler(handler)
    fields = {"request_id": "req_0123456789abcdefghijkl", "method": "POST", "route": "/v1/chat/completions",
              "status": 200, "key_id": "key_0123456789abcdefghijkl", "latency_ms": 812.4}
    return per_request_us(requests, lambda: logger.info("%s %s %s %.1f ms %s", "POST", fields["route"], 200,
                                                        812.4, fields["request_id"], extra=fields))


def child(mode: str, requests: int) -> None:
    if mode.startswith("metrics"):
        print(f"{measure_metrics(requests):.2f}")
    else:
        print(f"{measure_access_line(requests, mode.removeprefix('log-')):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="aqta-bench-metrics-") as folder:
        for mode, label, extra in (("metrics", "metrics, one process", {}),
                                   ("metrics-multiprocess", "metrics, multi-process files",
                                    {"PROMETHEUS_MULTIPROC_DIR": folder}),
                                   ("log-text", "access line, text", {}),
                                   ("log-json", "access line, JSON", {})):
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"} | extra
            command = [sys.executable, __file__, "--child", mode, "--requests", str(args.requests)]
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            rows.append((label, float(out.strip())))
    print(f"per chat request, {args.requests} requests each, Python {sys.version.split()[0]}")
    for label, micros in rows:
        print(f"  {label:32} {micros:6.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
