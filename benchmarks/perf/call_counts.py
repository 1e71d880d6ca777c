"""Python function calls per request and per stream, through the Flask test client (cProfile).

    python benchmarks/perf/call_counts.py                      # this checkout
    python benchmarks/perf/call_counts.py --source /tmp/base   # another checkout's code, same venv

A figure that does not depend on the machine's load: the same requests (every
feature on, a pro key, the fake upstream answering at once; streams of 20 chunks)
make the same calls, run after run. The key cache is kept for an hour so no key
lookup falls inside the measured requests.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import phases  # noqa: E402
from procs import scratch  # noqa: E402
from targets import BIN, base_env, start_fake_upstream  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=HERE.parent.parent)
    parser.add_argument("--requests", type=int, default=300, help="measured, after 30 unmeasured")
    parser.add_argument("--redis-db", type=int, default=10)
    args = parser.parse_args()
    source = args.source.resolve()
    sys.path.insert(0, str(source))

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    with scratch(redis_url, "aqta-calls-") as workdir:
        fake_url = start_fake_upstream(workdir)
        env = base_env(REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{workdir}/aqta.db",
                       OPENAI_API_KEY="x", OPENAI_BASE_URL=f"{fake_url}/v1",
                       SECRET_KEY=secrets.token_urlsafe(32), KEY_CACHE_SECONDS="3600",
                       PYTHONPATH=str(source))

        def aqta(*argv: str) -> list[str]:
            return subprocess.run([str(BIN / "aqta"), *argv], env=env, cwd=workdir, capture_output=True,
                                  text=True, check=True).stdout.strip().splitlines()

        aqta("migrate")
        lines = aqta("create-key", "--email", "calls@example.com", "--tier", "pro", "--name", "calls")
        key = lines[-1].strip()
        aqta("set-limits", next(w for w in lines[-2].split() if w.startswith("key_")),
             "--rpm", "10000000", "--monthly-quota", "100000000")
        os.environ.update(env)
        from app import create_app

        client = create_app().test_client()

        def one(number: int, stream: bool) -> None:
            body = {"model": "gpt-4o", "stream": stream,
                    "messages": [{"role": "user", "content": f"p{number} {secrets.token_hex(4)}"}]}
            response = client.post("/v1/chat/completions", json=body,
                                   headers={"Authorization": f"Bearer {key}"})
            response.get_data()
            assert response.status_code == 200, response.get_data()[:300]

        for name, stream in (("request", False), ("stream", True)):
            phases.upstream(fake_url, delay_ms=0, chunks=20, chunk_ms=0)
            for number in range(30):
                one(number, stream)
            profile = cProfile.Profile()
            profile.enable()
            for number in range(args.requests):
                one(1000 + number, stream)
            profile.disable()
            print(f"Python calls per {name}: {pstats.Stats(profile).total_calls / args.requests:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
