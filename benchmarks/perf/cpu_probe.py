"""Gateway CPU per request and per stream, in a minute: the quick check while cutting hot-path cost.

    python benchmarks/perf/cpu_probe.py                        # this checkout
    python benchmarks/perf/cpu_probe.py --source /tmp/base     # another checkout's code, same venv
    python benchmarks/perf/cpu_probe.py --profile /tmp/prof    # py-spy raw stacks of each phase too

Starts the fake upstream and ``aqta serve`` on one worker (every feature on, the
request-log drain beside it) exactly as run.py does, then: wrk at a fixed
concurrency against a 20 ms upstream (CPU per request), and batches of streams
(20 chunks, 10 ms apart) opened together (CPU per stream). CPU time is read from
/proc for the gateway's processes, so a busy machine slows the run but moves the
figures little. Repeat with ``--rounds`` and compare the medians.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phases  # noqa: E402
from procs import cpu_seconds, scratch  # noqa: E402
from targets import Aqta, Context, start_fake_upstream  # noqa: E402

HERE = Path(__file__).resolve().parent


def profiled(target: Aqta, out: Path | None, seconds: float) -> subprocess.Popen | None:
    spy = Path(sys.executable).with_name("py-spy")
    if out is None or not spy.exists():
        return None
    return subprocess.Popen([str(spy), "record", "--pid", str(target.worker_pids()[0]), "--duration",
                             str(int(seconds)), "--rate", "200", "--format", "raw", "--nonblocking",
                             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def per_request(target: Aqta, fake: str, args, out: Path | None) -> float:
    phases.upstream(fake, delay_ms=20)
    pids = target.pids()
    before = cpu_seconds(pids)
    spy = profiled(target, out, args.seconds)
    load = phases.wrk(target, args.connections, args.seconds)
    if spy is not None:
        spy.wait(timeout=60)
    return (cpu_seconds(pids) - before) / load["requests"] * 1000


def per_stream(target: Aqta, fake: str, args, out: Path | None) -> float:
    phases.upstream(fake, chunks=20, chunk_ms=10)
    pids = target.pids()
    before = cpu_seconds(pids)
    spy = profiled(target, out, 8)
    done = 0
    for _ in range(args.stream_batches):
        result = phases.loadgen("streams", target, "--total", str(args.streams),
                                "--concurrency", str(args.streams))
        done += result["ok"]
    if spy is not None:
        spy.wait(timeout=60)
    return (cpu_seconds(pids) - before) / done * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", help="put this checkout's code first on PYTHONPATH")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--streams", type=int, default=200, help="streams opened together")
    parser.add_argument("--stream-batches", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="folder for py-spy raw stacks of the last round")
    parser.add_argument("--redis-db", type=int, default=12)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    with scratch(redis_url, "aqta-probe-") as workdir:
        fake_url = start_fake_upstream(workdir)
        target = Aqta(Context(workdir=workdir, upstream=fake_url, redis_url=redis_url))
        if args.source:
            target.env["PYTHONPATH"] = str(Path(args.source).resolve())
        target.prepare()
        target.start(1)
        phases.warm_up(target, fake_url)
        requests_ms, streams_ms = [], []
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        for round_ in range(args.rounds):
            last = args.profile if args.profile and round_ == args.rounds - 1 else None
            requests_ms.append(per_request(target, fake_url, args, last and last / "requests.raw"))
            streams_ms.append(per_stream(target, fake_url, args, last and last / "streams.raw"))
            print(f"round {round_ + 1}: {requests_ms[-1]:.3f} ms/request, {streams_ms[-1]:.3f} ms/stream",
                  flush=True)
        print(f"median: {statistics.median(requests_ms):.3f} ms CPU per request, "
              f"{statistics.median(streams_ms):.3f} ms CPU per stream "
              f"(source {args.source or os.getcwd()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
