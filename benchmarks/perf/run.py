"""Aqta side by side with LiteLLM's proxy, against the same fake upstream, with the same load.

    python benchmarks/perf/run.py --quick          # a few minutes
    python benchmarks/perf/run.py                  # the full run (~20 minutes with the soak)
    python benchmarks/perf/run.py --targets direct,Aqta --soak-seconds 60

Starts a fake OpenAI upstream on loopback, then each target in turn (the upstream
called directly, ``aqta serve`` under gunicorn/gevent with Redis, SQLite and every
feature on with a pro key, the same with a healthcare key whose answers all get
receipts, LiteLLM's proxy from its own virtual environment), measures it, stops
it, and prints one table, also written with the machine's details to
``benchmarks/perf/results.md`` (raw numbers in ``results.json``). A py-spy profile
of one Aqta worker under load goes to ``profile.txt`` (``profile-healthcare.txt``
for the healthcare key). Every process it starts is stopped on exit, Ctrl-C included.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phases  # noqa: E402
import profile_summary  # noqa: E402
import report  # noqa: E402
from procs import ForeignLoad, PeakSampler, cpu_seconds, rss_bytes, stop_all, wait_for_quiet  # noqa: E402
from targets import (  # noqa: E402
    Aqta,
    AqtaHealthcare,
    Context,
    Direct,
    LiteLLM,
    Target,
    start_fake_upstream,
)

HERE = Path(__file__).resolve().parent
ALL_TARGETS = ("direct", "Aqta", "Aqta-healthcare", "LiteLLM")
PROFILES = {"Aqta": "profile.txt", "Aqta-healthcare": "profile-healthcare.txt"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller counts, 4 s steps and a 30 s soak: a few minutes in all")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS),
                        help="comma-separated subset of direct,Aqta,Aqta-healthcare,LiteLLM")
    parser.add_argument("--workers", type=int, default=1,
                        help="gateway worker processes for every figure but the 1000-stream "
                             "burst (run on 1 and 2)")
    parser.add_argument("--soak-seconds", type=float, default=None,
                        help="seconds of mixed load between the two RSS readings (default 600, quick 30)")
    parser.add_argument("--step-seconds", type=float, default=None,
                        help="seconds per throughput step (default 10, quick 4)")
    parser.add_argument("--redis-db", type=int, default=13,
                        help="a Redis database of the benchmark's own; flushed before and after")
    parser.add_argument("--no-aqta-worker", action="store_true",
                        help="do not run 'aqta worker' (the request-log drain) beside the gateway")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--source", help="run Aqta from this checkout's code (put first on its "
                                         "PYTHONPATH; same venv), e.g. main's, to compare")
    parser.add_argument("--wait-quiet", type=float, default=None,
                        help="before each target, wait up to this many seconds for other processes "
                             "on the machine to use under a quarter of a core (default 60, quick 15)")
    parser.add_argument("--output", default=str(HERE / "results.md"))
    return parser.parse_args()


def make_plan(args: argparse.Namespace) -> phases.Plan:
    plan = phases.Plan()
    if args.quick:
        plan = phases.Plan(latency_requests=500, ttft_streams=200,
                           throughput_levels=[8, 32, 128, 256], step_seconds=4,
                           soak_seconds=30, soak_concurrency=8, soak_stream_concurrency=8,
                           profile_seconds=8)
    if args.soak_seconds is not None:
        plan.soak_seconds = args.soak_seconds
    if args.step_seconds is not None:
        plan.step_seconds = args.step_seconds
    if args.wait_quiet is None:
        args.wait_quiet = 15 if args.quick else 60
    return plan


def measure(target: Target, fake: str, plan: phases.Plan, workers: int, profile_to: Path | None,
            result: dict) -> None:
    """Every figure for one target into ``result``: start it, measure, stop it (and again with
    the other worker count); what was measured before a failure stays in ``result``."""
    result.update({"workers": workers, "burst": {}})
    target.prepare()
    gateway = target.name != "direct"
    burst_counts = ([workers] + [w for w in (1, 2) if w != workers and (target.full or w == 1)]
                    if gateway else [1])
    for round_, count in enumerate(burst_counts):
        print(f"[{target.name}] starting with {count} worker(s)", flush=True)
        target.start(count)
        sampler = PeakSampler(target.pids()[0]) if target.pids() else None
        try:
            phases.warm_up(target, fake)
            if round_ == 0:
                result["rss"] = {"idle": rss_bytes(target.pids()) or None}
                print(f"[{target.name}] latency at concurrency 1", flush=True)
                result["latency"] = phases.latency(target, fake, plan)
                print(f"[{target.name}] time to first token", flush=True)
                result["ttft"] = phases.ttft(target, fake, plan)
                print(f"[{target.name}] throughput steps", flush=True)
                result["throughput"] = phases.throughput(target, fake, plan)
                print(f"[{target.name}] stall-free concurrent streams", flush=True)
                result["stall_free"] = phases.stall_free(target, fake, plan)
            if count in (1, 2):
                print(f"[{target.name}] 1000 streams at once, {count} worker(s)", flush=True)
                result["burst"][str(count)] = phases.burst(target, fake, plan)
            if round_ == 0 and profile_to is not None and isinstance(target, Aqta):
                print(f"[{target.name}] py-spy profile of one worker", flush=True)
                result["profile"] = phases.profile(target, fake, plan, profile_to)
            if round_ == 0 and gateway and target.full:
                print(f"[{target.name}] soak, {plan.soak_seconds:g} s", flush=True)
                result["soak"] = phases.soak(target, fake, plan)
        finally:
            if sampler is not None:
                peak = sampler.stop()
                key = "peak" if round_ == 0 else f"peak_{count}_workers"
                result.setdefault("rss", {})[key] = peak
                if round_ == 0:
                    result["rss"]["peak_process"] = sampler.peak_process
            target.stop()


def redis_flush(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    version = client.info("server").get("redis_version", "?")
    client.close()
    return version


def notes_for(results: dict, plan: phases.Plan) -> list[str]:
    notes = []
    for name, result in results.items():
        if result.get("error"):
            notes.append(f"{name} failed: {result['error'].splitlines()[-1]}")
        calls = (result.get("latency") or {}).get("upstream_calls_per_request")
        if calls is not None and abs(calls - 1) > 0.01:
            notes.append(f"{name} made {calls:.2f} upstream calls per client request")
        statuses = (result.get("latency") or {}).get("statuses", {})
        if any(code != "200" for code in statuses):
            notes.append(f"{name} latency test statuses: {statuses}")
        for step in (result.get("throughput") or {}).get("steps", []):
            if not step["passed"]:
                why = [f"p99 {step['p99_ms']:.0f} ms"] if step["p99_ms"] >= phases.P99_LIMIT_MS else []
                if step["failed"]:
                    why.append(f"{step['failed']} of {step['requests']} requests failed (non-2xx or "
                               "socket errors)")
                notes.append(f"{name}: the throughput step at {step['concurrency']} connections did not "
                             f"pass: {'; '.join(why)}")
        for level in (result.get("stall_free") or {}).get("levels", []):
            if not level["passed"]:
                errors = f", errors {level['errors']}" if level["errors"] else ""
                notes.append(f"{name}: {level['streams']} simultaneous streams failed the stall test "
                             f"(completed {level['ok']}, max gap {level['max_gap_ms'] or 0:.0f} ms, "
                             f"statuses {level['statuses']}{errors})")
        for workers, burst in sorted((result.get("burst") or {}).items()):
            if burst.get("statuses", {}).get("200", 0) != burst.get("streams"):
                notes.append(f"{name}: 1000-stream burst on {workers} worker(s): statuses {burst['statuses']}"
                             + (f", errors {burst['errors']}" if burst.get("errors") else ""))
        drain = result.get("drain_worker_cpu_s")
        if drain is not None:
            work = ("the request-log drain, and the receipts' sequencing, checkpoints and risk "
                    "classification" if "receipts" in result else "the request-log drain")
            notes.append(f"{name}: `aqta worker` ({work}) used {drain:.1f} CPU-seconds over the whole run, "
                         "not counted in the gateway's CPU or RSS")
        receipts = result.get("receipts")
        if receipts is not None:
            calls = result.get("upstream_calls")
            notes.append(
                f"{name}: receipts really made: {receipts['receipt_leaves']} receipt leaves in the log "
                f"({receipts['sequenced']} sequenced, {receipts['pending']} leaves pending; latest "
                f"signed checkpoint of size {receipts['checkpoint_size']}) for {calls} upstream calls "
                f"while it was measured; {receipts['risk_assessments']} answers risk-classified so far")
            if calls and receipts["receipt_leaves"] < calls:
                notes.append(f"{name}: WARNING: {calls - receipts['receipt_leaves']} answers have no "
                             "receipt in the log: its figures may not include the receipts' cost")
        foreign = result.get("foreign_cores")
        if foreign is not None and foreign > 0.1:
            notes.append(f"other processes on the machine kept {foreign:.2f} cores busy on average while "
                         f"{name} was measured: its figures are pessimistic")
        soak = result.get("soak") or {}
        if soak.get("errors") or soak.get("non_200"):
            notes.append(f"{name} soak: {soak.get('errors')} transport errors, {soak.get('non_200')} non-200 "
                         f"out of {soak.get('requests')} requests and {soak.get('streams')} streams")
    return notes


def main() -> int:
    args = parse_args()
    plan = make_plan(args)
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(wanted) - set(ALL_TARGETS)
    if unknown:
        raise SystemExit(f"unknown target(s) {', '.join(sorted(unknown))}; use {', '.join(ALL_TARGETS)}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below

    workdir = Path(tempfile.mkdtemp(prefix="aqta-bench-"))
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    results: dict[str, dict] = {}
    versions: dict[str, dict] = {}
    aqta: Aqta | None = None
    started = time.monotonic()
    try:
        redis_version = redis_flush(redis_url)
        fake_url = start_fake_upstream(workdir)
        ctx = Context(workdir=workdir, upstream=fake_url, redis_url=redis_url)
        for name in wanted:
            target: Target = {"direct": lambda: Direct(ctx),
                              "Aqta": lambda: Aqta(ctx, drain_worker=not args.no_aqta_worker),
                              "Aqta-healthcare": lambda: AqtaHealthcare(
                                  ctx, drain_worker=not args.no_aqta_worker),
                              "LiteLLM": lambda: LiteLLM(ctx)}[name]()
            if isinstance(target, Aqta):
                aqta = target
                if args.source:
                    target.env["PYTHONPATH"] = str(Path(args.source).resolve())
            before = wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
            foreign = ForeignLoad()
            results[name] = {}
            profile_raw = workdir / f"{name.lower()}-profile.raw"
            calls_before = phases.upstream_requests(fake_url)
            try:
                measure(target, fake_url, plan, args.workers,
                        None if args.no_profile else profile_raw, results[name])
            except Exception as exc:  # one target failing still leaves the others' figures
                traceback.print_exc()
                results[name]["error"] = f"{type(exc).__name__}: {exc}"
                target.stop()
            results[name]["foreign_cores"] = foreign.cores()
            results[name]["foreign_cores_before"] = before
            results[name]["upstream_calls"] = phases.upstream_requests(fake_url) - calls_before
            versions[name] = target.versions()
            if isinstance(target, AqtaHealthcare) and not args.no_aqta_worker:
                print(f"[{name}] waiting for the log to take every receipt", flush=True)
                results[name]["receipts"] = target.receipts()
            if isinstance(target, Aqta):
                pids = target.drain_cpu_pids()
                results[name]["drain_worker_cpu_s"] = cpu_seconds(pids) if pids else None
                target.close()
            profile = results[name].get("profile")
            if name in PROFILES and profile and profile_raw.exists():
                text = profile_summary.summarise(profile_raw, profile)
                (HERE / PROFILES[name]).write_text(text)
                print("\n" + "\n".join(text.splitlines()[:3]) + f"\n(full profile in {PROFILES[name]})")
    finally:
        if aqta is not None:
            aqta.close()
        stop_all()
        try:
            redis_flush(redis_url)
        except Exception:
            pass

    meta = {
        "argv": " ".join(sys.argv[1:]), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full", "workers": args.workers,
        "machine": report.machine(), "redis_server": redis_version, "versions": versions,
        "settings": settings_lines(args, plan),
        "notes": notes_for(results, plan), "details": report.steps_table(results),
    }
    print("\n" + report.table(results, args.workers) + "\n")
    for note in meta["notes"]:
        print("note:", note)
    Path(args.output).write_text(report.markdown(results, meta))
    Path(args.output).with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results},
                                                                 indent=1, default=str))
    print(f"\nwritten {args.output} in {time.monotonic() - started:.0f} s; logs in {workdir}")
    return 0


def settings_lines(args: argparse.Namespace, plan: phases.Plan) -> list[str]:
    return [
        f"Gateway workers: {args.workers} for every figure except the 1000-stream burst, run on 1 and 2. "
        "Aqta: `aqta serve --workers W` (gunicorn, gevent worker class, 1000 worker connections, "
        "keep-alive 5 s). LiteLLM: `litellm --config litellm_config.yaml --num_workers W` (uvicorn).",
        f"Aqta: REDIS_URL (db {args.redis_db}, flushed), SQLite DATABASE_URL in a temp folder, "
        "OPENAI_BASE_URL "
        "= the fake; a pro key with rpm 10,000,000 and a monthly quota of 100,000,000 (set-limits); "
        "rate limits, monthly quota, loop detection, cache (not hit: no temperature 0/seed) and the "
        "request log (Redis stream) all on" + ("" if args.no_aqta_worker else
                                                "; `aqta worker` drains the request log beside it") + ".",
        "Aqta-healthcare: the same, in a database of its own, with a healthcare-tier key (same limits): "
        "every answer gets a receipt (HMAC commitments under RECEIPT_SECRET, the leaf and the sealed "
        "risk case ride the request log's Redis pipeline); LOG_ORIGIN and LOG_SIGNING_KEYS (a key from "
        "`aqta log generate-key`) set" + ("" if args.no_aqta_worker else
                                          "; `aqta worker` beside it drains and sequences the receipts, "
                                          "signs a checkpoint every second and risk-classifies each "
                                          "answer") + ". No soak and no 2-worker burst for it.",
        "LiteLLM: model `gpt-4o` -> `openai/gpt-4o` at the fake, master key auth, no database (so no "
        "spend logs, key budgets or rate limits), LITELLM_LOG=ERROR, json logs, telemetry off.",
        "Prompts: a six-digit run nonce and a nine-digit counter per request, so no two are alike "
        "(loop detection masks only short numbers) and the cache is never hit.",
        "Fake upstream: one asyncio process, HTTP/1.1 keep-alive; usage in every answer and a usage "
        "chunk when `stream_options.include_usage` is set (the clients always set it).",
        f"Latency: {plan.latency_requests} non-streamed requests one at a time, upstream answers at once.",
        f"TTFT: {plan.ttft_streams} streams one at a time (5 chunks 2 ms apart); TTFT = first SSE "
        "data event.",
        f"Throughput: wrk ({'/'.join(map(str, plan.throughput_levels))} connections, "
        f"{plan.step_seconds:g} s a "
        f"step, upstream 20 ms); the best step with p99 < {phases.P99_LIMIT_MS:g} ms and under "
        f"{phases.MAX_ERROR_RATE:.1%} failed; stops at the first failing step. CPU per request = "
        "gateway CPU seconds (/proc utime+stime of master and workers) over all steps / requests.",
        f"Stall-free streams: {', '.join(map(str, plan.stall_levels))} streams opened at once, 20 chunks "
        f"50 ms apart upstream; passes if all complete and no gap between two SSE events exceeds "
        f"{phases.STALL_MS:g} ms.",
        f"Burst: {plan.burst_streams} streams opened at once, 20 chunks 100 ms apart (2 s each).",
        f"Soak: {plan.soak_seconds:g} s of {plan.soak_concurrency} non-streamed + "
        f"{plan.soak_stream_concurrency} streamed callers (upstream 20 ms; 20 chunks 10 ms apart); "
        "RSS (sum of VmRSS over master + workers) read before and 2 s after; peak RSS sampled every "
        "0.25 s through all tests of the main run.",
    ]


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every process the benchmark started has been stopped", file=sys.stderr)
        sys.exit(130)
