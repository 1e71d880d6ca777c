"""What a healthcare receipt adds to the hot path, embedded (journal) and with Redis (a stream).

Two measurements, each in both modes:

1. **Micro**: building one receipt (two HMAC commitments, canonical leaf bytes);
   the request log's hand-off every request makes (one journal line, or one
   ``XADD``); sealing the answer's text for the risk classifier; and that hand-off
   with the receipt and the sealed case riding along (two more journal lines, or two
   more ``XADD``s in the same pipeline), as the gateway does it.
2. **Per request**: the same chat completions (mock provider, in process, through
   the WSGI app) from a healthcare key and a pro key, interleaved so both see the
   same machine; the difference in the mean is what receipts cost a request.

No database query runs on either path (the hand-off never touches the database).

    python benchmarks/receipt_handoff.py                 # embedded and Redis
    python benchmarks/receipt_handoff.py --requests 4000 --redis-url redis://127.0.0.1:6379/0
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

import storage.keys as keys_repo  # noqa: E402
import storage.users as users_repo  # noqa: E402
from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.gateway.request_log.sink import request_log  # noqa: E402
from app.healthcare import receipts  # noqa: E402
from app.healthcare.risk.cases import risk_cases  # noqa: E402
from app.identity.api_keys import generate_key  # noqa: E402
from providers.base import ProviderSettings, Usage  # noqa: E402
from storage.ids import utcnow  # noqa: E402
from storage.migrate import apply_migrations  # noqa: E402
from storage.records import RequestRecord  # noqa: E402

NOTE = ("Patient presents with intermittent chest pain radiating to the left arm, onset two days ago, "
        "worse on exertion; history of hypertension and type 2 diabetes; current medication metformin "
        "and lisinopril. Summarise the differential and the next investigations. ") * 3  # ~700 chars
REQUEST = {"model": "mock-1", "messages": [{"role": "system", "content": "You are a careful clinician."},
                                           {"role": "user", "content": NOTE}]}
ANSWER = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
    "role": "assistant", "content": "Differential: acute coronary syndrome, stable angina... " * 8}}]}


def _app(folder: Path, redis_url: str | None, namespace: str):
    settings = Settings(database_url=f"sqlite:///{folder / 'aqta.db'}",
                        secret_key="bench-secret-key-0123456789abcdef", redis_url=redis_url,
                        jobs_namespace=namespace, log_stream=f"{namespace}:log-pending",
                        request_log_stream=f"{namespace}:request-log-stream",
                        log_journal_dir=str(folder / "log-journal"),
                        risk_stream=f"{namespace}:risk-cases", risk_journal_dir=str(folder / "risk-journal"),
                        request_journal_dir=str(folder / "journal"), key_cache_seconds=60.0,
                        providers={"mock": ProviderSettings(extra={"response_words": 40, "chunk_count": 5})})
    app = create_app(settings)
    with app.app_context():
        apply_migrations()
    return app


def _per_call_us(call, count: int) -> tuple[float, float, float]:
    """Mean, median and 99th percentile of ``call()`` in microseconds."""
    for _ in range(min(1000, count)):  # warm up: caches, the journal's segment, the connection
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return statistics.fmean(samples), samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def micro(app, count: int) -> dict[str, tuple[float, float, float]]:
    with app.app_context():
        user = users_repo.create(f"micro-{uuid.uuid4().hex}@example.com", None, "healthcare")
        new = generate_key()
        key = keys_repo.create(user.id, "bench", new.key_hash, new.prefix, new.last_four)
        issuer = receipts.issuer()

        def receipt():
            return issuer.prepare(
                key=key, request_id="req_bench", model="mock-1", provider="mock", created_at=utcnow(),
                status="ok", usage=Usage(180, 120), cost=Decimal("0.00123400"), request=REQUEST,
                answer=ANSWER)

        def record():
            return RequestRecord(
                request_id="req_bench", user_id=user.id, key_id=key.id, model="mock-1", provider="mock",
                status="ok", error_code=None, prompt_tokens=180, completion_tokens=120,
                cost_eur=Decimal("0.00123400"), saved_eur=Decimal(0), cached=False, loop_detected=False,
                latency_ms=3, ttft_ms=None, created_at=utcnow())

        def alone():
            request_log().append(record())

        def sealed_case():
            return risk_cases().rider(receipt_id="rcpt_bench", key=key, request_id="req_bench",
                                      model="mock-1", created_at=utcnow(), request=REQUEST, answer=ANSWER)

        def with_receipt():
            _, leaf = receipt()
            request_log().append(record(), [leaf, sealed_case()])

        return {"receipt built (HMACs, canonical leaf bytes)": _per_call_us(receipt, count),
                "risk case sealed (text extracted, AES-GCM)": _per_call_us(sealed_case, count),
                "request-log hand-off alone (every request)": _per_call_us(alone, count),
                "request-log hand-off + receipt and sealed risk case riding along":
                    _per_call_us(with_receipt, count)}


def per_request(app, count: int) -> dict[str, float]:
    """Mean and median ms per chat completion, healthcare key vs pro key, interleaved."""
    headers = {}
    with app.app_context():
        for tier in ("healthcare", "pro"):
            user = users_repo.create(f"{tier}-{uuid.uuid4().hex}@example.com", None, tier)
            new = generate_key()
            record = keys_repo.create(user.id, "bench", new.key_hash, new.prefix, new.last_four)
            keys_repo.set_limits(user.id, record.id, rpm_limit=10_000_000, loop_settings={"enabled": False})
            headers[tier] = {"Authorization": f"Bearer {new.plaintext}"}
    client = app.test_client()
    times: dict[str, list[float]] = {"healthcare": [], "pro": []}
    cpu: dict[str, list[float]] = {"healthcare": [], "pro": []}
    for number in range(count + 200):
        for tier in ("healthcare", "pro") if number % 2 else ("pro", "healthcare"):
            started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
            response = client.post("/v1/chat/completions", headers=headers[tier], json=REQUEST)
            elapsed, elapsed_cpu = time.perf_counter_ns() - started, time.process_time_ns() - started_cpu
            if response.status_code != 200:
                sys.exit(f"{tier}: {response.status_code} {response.get_data(as_text=True)}")
            if number >= 200:  # the first 200 warm up
                times[tier].append(elapsed / 1e6)
                cpu[tier].append(elapsed_cpu / 1e6)
    figures = {}
    for tier in times:
        figures[f"{tier} median"] = statistics.median(times[tier])
        figures[f"{tier} cpu"] = statistics.fmean(cpu[tier])
    figures["added median"] = figures["healthcare median"] - figures["pro median"]
    figures["added cpu"] = figures["healthcare cpu"] - figures["pro cpu"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="micro-benchmark calls per mode")
    parser.add_argument("--requests", type=int, default=2_000, help="chat completions per key and mode")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--embedded-only", action="store_true")
    args = parser.parse_args()
    modes = [("embedded (journal)", None)]
    if not args.embedded_only:
        modes.append(("Redis (stream)", args.redis_url))
    for name, redis_url in modes:
        namespace = f"aqta-bench-{uuid.uuid4().hex[:8]}"
        folder = Path(tempfile.mkdtemp(prefix="aqta-receipt-bench-"))
        app = _app(folder, redis_url, namespace)
        try:
            print(f"## {name}")
            for what, (mean, median, p99) in micro(app, args.calls).items():
                print(f"{what}: mean {mean:.1f} µs, p50 {median:.1f} µs, p99 {p99:.1f} µs")
            figures = per_request(app, args.requests)
            for tier in ("pro", "healthcare"):
                print(f"chat completion, {tier} key: median {figures[f'{tier} median']:.3f} ms wall, "
                      f"mean {figures[f'{tier} cpu']:.3f} ms CPU")
            print(f"added by the receipt: median {figures['added median']:.3f} ms wall, "
                  f"mean {figures['added cpu']:.3f} ms CPU")
        finally:
            if redis_url:
                client = redis.Redis.from_url(redis_url)
                keys = list(client.scan_iter(f"{namespace}*"))
                if keys:
                    client.delete(*keys)
                client.close()


if __name__ == "__main__":
    main()
