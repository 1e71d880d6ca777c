"""GET /metrics in one process: who may scrape, and counters that move by exactly the traffic."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import openai
import pytest
import redis

from app.gateway.request_log.drain import drain_all
from app.jobs import enqueue
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.gateway.conftest import MODELS
from tests.metrics.scrape import BEARER, TOKEN, moved, moved_by_labels, samples
from tests.support.webhooks import FAST, create_endpoint, finished_delivery

DASHBOARD = Path(__file__).parents[2] / "app/metrics/grafana-aqta.json"
MESSAGES = [{"role": "user", "content": "How green is Kerry?"}]
CHAT = "/v1/chat/completions"


def scrape(client) -> dict:
    page = client.get("/metrics", headers=BEARER)
    assert page.status_code == 200, page.data
    assert page.content_type.startswith("text/plain; version=0.0.4")
    return samples(page.get_data(as_text=True))


@pytest.mark.parametrize("overrides, headers, status, code", [
    ({"metrics_token": TOKEN}, {}, 401, "invalid_metrics_token"),
    ({"metrics_token": TOKEN}, {"Authorization": "Bearer metrics-token-0123456789abcdeX"}, 401,
     "invalid_metrics_token"),
    ({"metrics_token": TOKEN}, {"Authorization": f"Basic {TOKEN}"}, 401, "invalid_metrics_token"),
    ({}, BEARER, 403, "metrics_disabled"),  # nothing configured: off
    ({"metrics_port": 9464}, BEARER, 403, "metrics_disabled"),  # only its own listener serves it
])
def test_metrics_are_refused_without_the_token(make_app, overrides, headers, status, code):
    response = make_app(**overrides).test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="aqta-metrics"'
    assert b"aqta_" not in response.data


def test_the_counters_move_by_exactly_the_traffic(make_gateway, make_account, fakes):
    gateway = make_gateway(metrics_token=TOKEN)
    client = gateway.app.test_client()
    pro, free = make_account(tier="pro"), make_account(tier="free")
    sdk = gateway.client(pro.key)
    before = scrape(client)

    costs = []
    for _ in range(2):
        answer = sdk.chat.completions.create(model=MODELS["openai"], messages=MESSAGES)
        costs.append(Decimal(str(answer.model_extra["aqta"]["cost_eur"])))
    deterministic = {"model": MODELS["anthropic"], "messages": MESSAGES, "temperature": 0}
    first = sdk.chat.completions.create(**deterministic)
    costs.append(Decimal(str(first.model_extra["aqta"]["cost_eur"])))
    hit = sdk.chat.completions.create(**deterministic)
    assert hit.model_extra["aqta"]["cached"] is True
    streamed = list(sdk.chat.completions.create(model=MODELS["openai"], messages=MESSAGES, stream=True))
    costs.append(Decimal(str(streamed[-1].model_extra["aqta"]["cost_eur"])))
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model-0001", messages=MESSAGES)
    limited = gateway.client(free.key)
    refused = 0
    for n in range(7):  # the free tier's 5 a minute, then rate_limit_exceeded
        try:
            limited.chat.completions.create(model="mock-1", messages=[{"role": "user", "content": f"{n}"}])
        except openai.RateLimitError:
            refused += 1
    assert refused == 2

    after = scrape(client)
    chat = "aqta_chat_requests_total"
    assert moved(before, after, chat, provider="openai", model="gpt-4o", status="ok", cache="miss") == 3
    assert moved(before, after, chat, provider="anthropic", model="claude-sonnet-4-0", status="ok",
                 cache="miss") == 1
    assert moved(before, after, chat, provider="anthropic", model="claude-sonnet-4-0", status="cached",
                 cache="hit") == 1
    assert moved(before, after, chat, provider="", model="", status="error", cache="miss") == 1
    assert moved(before, after, chat, provider="mock", model="mock-1", status="ok", cache="miss") == 5
    assert moved(before, after, chat, provider="mock", model="mock-1", status="error", cache="miss") == 2
    assert moved_by_labels(before, after, "aqta_chat_refusals_total", "reason") == \
        {"rate_limit_exceeded": 2}
    http = moved_by_labels(before, after, "aqta_http_requests_total", "status")
    assert http == {"200": 10 + 1, "404": 1, "429": 2}  # ten answers, and the first scrape
    assert moved(before, after, "aqta_http_requests_total", method="POST", route=CHAT, status="200") == 10
    assert moved(before, after, "aqta_chat_time_to_first_token_seconds_count", provider="openai") == 1
    assert moved(before, after, "aqta_chat_request_duration_seconds_count", provider="openai") == 3
    assert moved(before, after, "aqta_chat_request_duration_seconds_count", provider="anthropic") == 2
    cost = sum(moved(before, after, "aqta_chat_cost_eur_total", provider=p, model=m)
               for p, m in (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-0")))
    assert cost == pytest.approx(float(sum(costs)), rel=1e-9) and cost > 0


def test_route_labels_are_rules_not_paths(make_app, make_account):
    app, account = make_app(metrics_token=TOKEN), make_account()
    client = app.test_client()
    before = scrape(client)
    for n in range(3):
        assert client.delete(f"/api/keys/key_missing{n}", headers=account.headers).status_code == 404
        client.get(f"/no/such/page/{n}")
    after = scrape(client)
    routes = moved_by_labels(before, after, "aqta_http_requests_total", "route")
    assert routes == {"/api/keys/<string:key_id>": 3, "unmatched": 3, "/metrics": 1}


def test_the_request_logs_lag_is_read_at_scrape_time(make_app, make_account, redis_url, tmp_path):
    stream = f"aqta-test:request-log:{tmp_path.name}"
    app = make_app(metrics_token=TOKEN, redis_url=redis_url, request_log_stream=stream)
    account = make_account(tier="pro")
    client = app.test_client()
    try:
        for n in range(3):
            answered = client.post(CHAT, headers=account.headers, json={
                "model": "mock-1", "messages": [{"role": "user", "content": f"lag {n}"}]})
            assert answered.status_code == 200
        assert scrape(client)[("aqta_request_log_stream_length", ())] == 3
        with app.app_context():
            drain_all()
        assert scrape(client)[("aqta_request_log_stream_length", ())] == 0
    finally:
        redis.Redis.from_url(redis_url).delete(stream, f"{stream}:rejected")


def test_the_journal_backlog_and_the_job_queues_are_read_at_scrape_time(make_app, make_account):
    app, account = make_app(metrics_token=TOKEN), make_account(tier="pro")
    client = app.test_client()
    assert scrape(client)[("aqta_request_log_journal_bytes", ())] == 0
    assert client.post(CHAT, headers=account.headers, json={
        "model": "mock-1", "messages": MESSAGES}).status_code == 200
    assert scrape(client)[("aqta_request_log_journal_bytes", ())] > 0
    with app.app_context():
        drain_all()
        queued = scrape(client)[("aqta_job_queue_depth", (("queue", "default"),))]
        enqueue("tests.no_such_actor", note="queued, never run")
        enqueue("tests.no_such_actor", delay_ms=60_000)
    assert scrape(client)[("aqta_request_log_journal_bytes", ())] == 0
    assert scrape(client)[("aqta_job_queue_depth", (("queue", "default"),))] == queued + 2


def test_webhook_deliveries_are_counted_by_outcome(make_app, make_account):
    app = make_app(run_embedded_worker=True, metrics_token=TOKEN,
                   **{**FAST, "webhook_retry_schedule": (0.1,)})
    account, client = make_account(), app.test_client()
    receiver = WebhookReceiver().start()
    try:
        endpoint = create_endpoint(client, account, receiver.url)
        before = scrape(client)
        sent = client.post(f"/api/webhooks/{endpoint['id']}/test", headers=account.headers)
        finished_delivery(client, account, endpoint["id"], sent.json["delivery_id"])
        receiver.fail_next(2, status=500)
        sent = client.post(f"/api/webhooks/{endpoint['id']}/test", headers=account.headers)
        failed = finished_delivery(client, account, endpoint["id"], sent.json["delivery_id"])
        assert failed["status"] == "failed"
        after = scrape(client)
    finally:
        receiver.stop()
    assert moved_by_labels(before, after, "aqta_webhook_deliveries_total", "outcome") == \
        {"delivered": 1, "retrying": 1, "failed": 1}


def test_metrics_are_in_the_openapi_document(client):
    spec = json.loads(client.get("/openapi.json").data)
    operation = spec["paths"]["/metrics"]["get"]
    assert set(operation["responses"]) >= {"200", "401", "403"}
    assert "text/plain" in operation["responses"]["200"]["content"]


def test_the_grafana_dashboard_charts_only_series_that_exist(make_app):
    page = make_app(metrics_token=TOKEN).test_client().get("/metrics", headers=BEARER).get_data(as_text=True)
    declared = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", page, re.MULTILINE):
        declared |= {name} | ({f"{name}_{part}" for part in ("bucket", "count", "sum")}
                              if kind == "histogram" else set())
    dashboard = json.loads(DASHBOARD.read_text())
    charted = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\baqta_\w+", target["expr"])}
    assert charted and charted <= declared, charted - declared
