"""Request-log test data: records built here, stored through the real repository."""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from storage.costs import CostTotals
from storage.ids import new_id
from storage.money import to_microcents
from storage.records import RequestRecord

MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-3-5-sonnet", "anthropic"),
          ("gemini-2.0-flash", "google"), ("sonar", "perplexity")]


def request_record(user_id: str, key_id: str, created_at: datetime, *, model: str = "gpt-4o",
                   provider: str = "openai", status: str = "ok", cost: str | Decimal = "0.00123400",
                   saved: str | Decimal = "0", cached: bool = False, loop_detected: bool = False,
                   prompt_tokens: int = 10, completion_tokens: int = 20,
                   error_code: str | None = None) -> RequestRecord:
    return RequestRecord(request_id=new_id("req"), user_id=user_id, key_id=key_id, model=model,
                         provider=provider, status=status, error_code=error_code,
                         prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                         cost_eur=Decimal(cost), saved_eur=Decimal(saved), cached=cached,
                         loop_detected=loop_detected, latency_ms=120, ttft_ms=None,
                         created_at=created_at)


def random_cost(rng: random.Random) -> Decimal:
    """Anything from a hundred-millionth of a euro to thousands, at full 8-place precision."""
    scale = rng.choice([10, 1_000, 100_000, 10_000_000, 1_000_000_000_000])
    return Decimal(rng.randrange(0, scale)).scaleb(-8)


def random_records(rng: random.Random, owners: list[tuple[str, str]], days: list[date],
                   count: int) -> list[RequestRecord]:
    """Mixed records: ok, errors, cache hits and loops, over ``owners`` (user, key) and days."""
    records = []
    for _ in range(count):
        user_id, key_id = rng.choice(owners)
        model, provider = rng.choice(MODELS)
        moment = datetime.combine(rng.choice(days), time(), UTC) + timedelta(
            microseconds=rng.randrange(86_400 * 10**6))
        kind = rng.choice(["ok", "ok", "ok", "error", "cached", "loop"])
        cost = random_cost(rng)
        records.append(request_record(
            user_id, key_id, moment, model=model, provider=provider,
            status={"loop": "error", "cached": "ok"}.get(kind, kind),
            error_code={"error": "provider_error", "loop": "loop_detected"}.get(kind),
            cost=Decimal(0) if kind in ("cached", "loop") else cost,
            saved=cost if kind == "cached" else Decimal(0),
            cached=kind == "cached", loop_detected=kind == "loop",
            prompt_tokens=rng.randrange(0, 5000), completion_tokens=rng.randrange(0, 5000)))
    return records


def totals_of(records: Iterable[RequestRecord]) -> CostTotals:
    """What the aggregates must say about ``records``, computed the slow, obvious way."""
    total = CostTotals()
    for r in records:
        total = total + CostTotals(
            requests=1, prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
            cost_microcents=to_microcents(r.cost_eur), saved_microcents=to_microcents(r.saved_eur),
            cached=int(r.cached), loop_blocks=int(r.loop_detected or r.error_code == "loop_detected"),
            errors=int(r.status == "error"))
    return total


def expected_daily(records: Iterable[RequestRecord], user_id: str,
                   group: str | None = None) -> dict[tuple, CostTotals]:
    """Per (day, group value) totals of one account's records."""
    attribute = {"key": "key_id"}.get(group, group)
    buckets: dict[tuple, list[RequestRecord]] = defaultdict(list)
    for r in records:
        if r.user_id == user_id:
            buckets[(r.created_at.date(), getattr(r, attribute) if group else None)].append(r)
    return {bucket: totals_of(rows) for bucket, rows in buckets.items()}
