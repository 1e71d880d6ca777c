"""The measurements, one function per figure of the table; each drives one running target.

Load comes from wrk (non-streamed throughput, with ``wrk_chat.lua``) and from
``loadgen.py`` (a gevent client: latency, streams, soak), each run as its own
process and bounded in count and time. The fake upstream's timing is set before
each phase through its ``/_control`` endpoint.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from procs import cpu_seconds, rss_bytes
from targets import Target, http_post_json

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"
WRK_SCRIPT = HERE / "wrk_chat.lua"
CHAT_PATH = "/v1/chat/completions"
P99_LIMIT_MS = 1000.0  # the throughput figure is the best step whose p99 stays under this
MAX_ERROR_RATE = 0.001  # ... and whose failed requests stay under this share
STALL_MS = 200.0  # a gap between two chunks above this is a stall


@dataclass
class Plan:
    """How much of each measurement to run (``--quick`` shrinks it)."""

    latency_requests: int = 2000
    ttft_streams: int = 500
    throughput_levels: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128, 256])
    step_seconds: float = 10.0
    stall_levels: list[int] = field(default_factory=lambda: [50, 100, 250, 500, 1000])
    burst_streams: int = 1000
    soak_seconds: float = 600.0
    soak_concurrency: int = 16  # non-streamed callers during the soak
    soak_stream_concurrency: int = 16  # streamed callers during the soak
    profile_seconds: float = 15.0
    profile_concurrency: int = 64


def nonce() -> str:
    return str(random.randint(100_000, 999_999))  # six digits: never masked as a counter


def upstream(fake: str, **config: float) -> dict:
    defaults = {"delay_ms": 0, "chunks": 20, "chunk_ms": 50, "first_ms": 0}
    return http_post_json(f"{fake}/_control", {**defaults, **config})


def upstream_requests(fake: str) -> int:
    return http_post_json(f"{fake}/_control", {})["requests"]


def loadgen(command: str, target: Target, *args: str, timeout: float = 900) -> dict:
    argv = [sys.executable, str(LOADGEN), command, "--url", target.url, "--nonce", nonce(), *args]
    if target.key:
        argv += ["--key", target.key]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen {command} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def wrk(target: Target, concurrency: int, seconds: float) -> dict:
    threads = max(1, min(concurrency, (os.cpu_count() or 2) // 2, 4))
    argv = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s",
            "--timeout", "5s", "-s", str(WRK_SCRIPT), target.url + CHAT_PATH,
            "--", nonce(), target.key or "-", "gpt-4o"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {result.stdout[-1000:]} {result.stderr[-1000:]}")
    raw = json.loads(line[len("WRKJSON "):])
    failed = raw["err_status"] + raw["err_timeout"] + raw["err_connect"] + raw["err_read"] + raw["err_write"]
    seconds_run = raw["duration_us"] / 1e6
    return {"concurrency": concurrency, "requests": raw["requests"], "failed": failed,
            "rps": (raw["requests"] - raw["err_status"]) / seconds_run,
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "raw": raw}


def warm_up(target: Target, fake: str) -> None:
    upstream(fake, chunks=5, chunk_ms=0)
    loadgen("latency", target, "--total", "200", "--concurrency", "4")
    loadgen("streams", target, "--total", "20", "--concurrency", "4")


def latency(target: Target, fake: str, plan: Plan) -> dict:
    """Non-streamed calls one at a time, upstream answering at once."""
    upstream(fake, delay_ms=0)
    before = upstream_requests(fake)
    result = loadgen("latency", target, "--total", str(plan.latency_requests), "--concurrency", "1")
    ok = result["statuses"].get("200", 0)
    result["upstream_calls_per_request"] = (upstream_requests(fake) - before) / ok if ok else None
    return result


def ttft(target: Target, fake: str, plan: Plan) -> dict:
    """Streams one at a time: 5 chunks 2 ms apart, the first at once."""
    upstream(fake, chunks=5, chunk_ms=2)
    return loadgen("streams", target, "--total", str(plan.ttft_streams), "--concurrency", "1")


def throughput(target: Target, fake: str, plan: Plan) -> dict:
    """wrk at rising concurrency against a 20 ms upstream; stops at the first failing step."""
    upstream(fake, delay_ms=20)
    pids = target.pids()
    cpu_before = cpu_seconds(pids)
    steps, best = [], None
    for concurrency in plan.throughput_levels:
        step = wrk(target, concurrency, plan.step_seconds)
        step["passed"] = (step["p99_ms"] < P99_LIMIT_MS
                          and step["failed"] <= MAX_ERROR_RATE * max(step["requests"], 1))
        steps.append(step)
        print(f"    c={concurrency}: {step['rps']:.0f} req/s, p99 {step['p99_ms']:.1f} ms, "
              f"failed {step['failed']}", flush=True)
        if not step["passed"]:
            break
        if best is None or step["rps"] > best["rps"]:
            best = step
    cpu = cpu_seconds(pids) - cpu_before if pids else None
    served = sum(s["requests"] for s in steps)
    return {"steps": steps, "best": best, "cpu_s": cpu, "requests": served,
            "cpu_ms_per_request": cpu / served * 1000 if cpu is not None and served else None}


def streams_at_once(target: Target, count: int, max_seconds: float = 120) -> dict:
    pids = target.pids()
    cpu_before = cpu_seconds(pids)
    result = loadgen("streams", target, "--total", str(count), "--concurrency", str(count),
                     "--max-seconds", str(max_seconds))
    if pids:
        result["cpu_s"] = cpu_seconds(pids) - cpu_before
    return result


def stall_free(target: Target, fake: str, plan: Plan) -> dict:
    """The most simultaneous streams (20 chunks, 50 ms apart) with no gap above 200 ms."""
    upstream(fake, chunks=20, chunk_ms=50)
    levels, best = [], 0
    for count in plan.stall_levels:
        result = streams_at_once(target, count)
        gap = result["max_gap_ms"]
        result["passed"] = result["ok"] == count and gap is not None and gap <= STALL_MS
        levels.append({"streams": count, **result})
        print(f"    {count} streams: ok {result['ok']}, max gap {gap or 0:.0f} ms, "
              f"wall {result['wall_s']:.2f} s", flush=True)
        if not result["passed"]:
            break
        best = count
        time.sleep(1)
    return {"levels": levels, "max_streams": best}


def burst(target: Target, fake: str, plan: Plan) -> dict:
    """``burst_streams`` two-second streams (20 chunks, 100 ms apart) opened at once."""
    upstream(fake, chunks=20, chunk_ms=100)
    result = streams_at_once(target, plan.burst_streams)
    print(f"    {plan.burst_streams} x 2 s streams on {target.workers or '-'} worker(s): "
          f"ok {result['ok']}, wall {result['wall_s']:.2f} s, max gap {result['max_gap_ms'] or 0:.0f} ms",
          flush=True)
    return result


def soak(target: Target, fake: str, plan: Plan) -> dict:
    """Mixed load for ``soak_seconds``; RSS of the gateway before and after."""
    upstream(fake, delay_ms=20, chunks=20, chunk_ms=10)
    pids = target.pids()
    before = rss_bytes(pids)
    cpu_before = cpu_seconds(pids)
    counts = loadgen("soak", target, "--seconds", str(plan.soak_seconds),
                     "--concurrency", str(plan.soak_concurrency),
                     "--stream-concurrency", str(plan.soak_stream_concurrency),
                     timeout=plan.soak_seconds + 300)
    time.sleep(2)
    pids = target.pids()
    return {**counts, "rss_before": before, "rss_after": rss_bytes(pids),
            "cpu_s": cpu_seconds(pids) - cpu_before if pids else None}


def profile(target: Target, fake: str, plan: Plan, out: Path) -> dict:
    """py-spy samples one gateway worker while wrk keeps it busy; raw collapsed stacks."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return {"skipped": "py-spy is not installed in this environment (pip install py-spy)"}
    worker = target.worker_pids()[0]
    upstream(fake, delay_ms=20)
    seconds = max(3, int(plan.profile_seconds))
    recorder = subprocess.Popen([str(spy), "record", "--pid", str(worker), "--duration",
                                 str(seconds), "--rate", "200", "--format", "raw",
                                 "--nonblocking", "--output", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        load = wrk(target, plan.profile_concurrency, seconds + 2)
        output, _ = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    return {"worker_pid": worker, "seconds": seconds, "rate": 200, "load": load,
            "py_spy": output[-500:], "file": str(out)}

