"""Every series Aqta counts, and the calls that count them.

Labels are bounded: a route is Flask's URL rule (``/api/keys/<key_id>``), never the
raw path; a model is the catalogue's entry (``mock-*``), never the name a client
sent. Money is ``Decimal`` everywhere else; it becomes a float only here, at the
metric boundary. Under gunicorn these live in prometheus_client's multi-process
files (``PROMETHEUS_MULTIPROC_DIR``, set before the client is imported).
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

# seconds; chat answers take from milliseconds (cache) to minutes (long streams)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)  # seconds
REFUSALS = ("loop_detected", "quota_exceeded", "rate_limit_exceeded", "budget_exceeded")
UNMATCHED_ROUTE = "unmatched"  # a path no route serves (404, 405)

HTTP_REQUESTS = Counter("aqta_http_requests", "HTTP requests answered, by route and status",
                        ("method", "route", "status"))
CHAT_REQUESTS = Counter("aqta_chat_requests", "Chat completions, by provider, model, outcome and "
                        "cache", ("provider", "model", "status", "cache"))
CHAT_LATENCY = Histogram("aqta_chat_request_duration_seconds",
                         "Chat completions from arrival to the last byte handed on",
                         ("provider",), buckets=LATENCY_BUCKETS)
FIRST_TOKEN = Histogram("aqta_chat_time_to_first_token_seconds",
                        "Streamed chat completions from arrival to the first chunk",
                        ("provider",), buckets=FIRST_TOKEN_BUCKETS)
COST = Counter("aqta_chat_cost_eur", "What chat completions cost, in EUR", ("provider", "model"))
REFUSED = Counter("aqta_chat_refusals", "Chat requests refused by admission: loops, quotas, "
                  "rate limits and budgets", ("reason",))
WEBHOOK_DELIVERIES = Counter("aqta_webhook_deliveries", "Webhook delivery attempts, by outcome "
                             "(delivered, retrying, failed for good)", ("outcome",))


@lru_cache(maxsize=4096)  # label sets are bounded; a cached child skips labels()' lock and checks
def child(metric: MetricWrapperBase, *labels: str) -> MetricWrapperBase:
    return metric.labels(*labels)


def count_http(method: str, route: str | None, status: int) -> None:
    child(HTTP_REQUESTS, method, route or UNMATCHED_ROUTE, str(status)).inc()


def count_chat(*, provider: str, model: str, status: str, cached: bool, error_code: str | None,
               latency_seconds: float, first_token_seconds: float | None, cost: Decimal) -> None:
    """One finished chat request (``provider`` and ``model`` empty when it was never routed)."""
    child(CHAT_REQUESTS, provider, model, status, "hit" if cached else "miss").inc()
    if error_code in REFUSALS:
        child(REFUSED, error_code).inc()
    if not provider:
        return
    child(CHAT_LATENCY, provider).observe(latency_seconds)
    if first_token_seconds is not None:
        child(FIRST_TOKEN, provider).observe(first_token_seconds)
    if cost:
        child(COST, provider, model).inc(float(cost))


def count_webhook_delivery(outcome: str) -> None:
    child(WEBHOOK_DELIVERIES, outcome).inc()
