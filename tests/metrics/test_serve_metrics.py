"""GET /metrics on a real ``aqta serve`` with two gunicorn workers: multi-process counts add up."""
from __future__ import annotations

import uuid

import openai
import pytest
import redis
import requests

from tests.conftest import first_backend_only
from tests.metrics.scrape import BEARER, TOKEN, moved, samples
from tests.support.serve import create_key, free_port, fresh_env, start_serve

CHATS, STREAMS = 24, 6


@pytest.fixture
def served(request, database_url, redis_url, openai_upstream, tmp_path):
    """Two gevent workers on Redis, OpenAI pointed at the fake: (base URL, metrics URL, key)."""
    first_backend_only(request, "gunicorn's processes, not the database, are under test")
    run = uuid.uuid4().hex[:10]
    port, metrics_port = free_port(), free_port()
    env = fresh_env(DATABASE_URL=f"sqlite:///{tmp_path}/aqta.db", REDIS_URL=redis_url,
                    SECRET_KEY="serve-metrics-secret-0123456789", REDIS_KEY_PREFIX=f"aqta-test-{run}:",
                    REQUEST_LOG_STREAM=f"aqta-test-{run}:request-log", JOBS_NAMESPACE=f"aqta-test-{run}",
                    METRICS_TOKEN=TOKEN, METRICS_PORT=str(metrics_port), XDG_RUNTIME_DIR=str(tmp_path),
                    OPENAI_API_KEY="upstream-key", OPENAI_BASE_URL=f"{openai_upstream.url}/v1")
    key = create_key(tmp_path, env, "metrics@example.com", "--tier", "pro")
    server = start_serve(tmp_path, port, env, "--workers", "2")
    try:
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}", key
    finally:
        server.terminate()
        server.wait(timeout=30)
        client = redis.Redis.from_url(redis_url)
        stale = list(client.scan_iter(f"aqta-test-{run}*"))
        if stale:
            client.delete(*stale)


def scrape(url: str, headers: dict | None = None) -> dict:
    page = requests.get(f"{url}/metrics", headers=headers or {}, timeout=10)
    assert page.status_code == 200, page.text
    return samples(page.text)


def test_two_workers_counts_add_up_across_processes(served):
    base, metrics, key = served
    before = scrape(base, BEARER)
    for n in range(CHATS + STREAMS):
        # A connection each, so both workers take their share of the requests.
        with openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0,
                           default_headers={"Connection": "close"}) as sdk:
            # Five digits read as an id, not a counter: thirty questions, not a loop.
            asked = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"question {n:05d}"}]}
            if n < CHATS:
                assert sdk.chat.completions.create(**asked).choices[0].message.content
            else:
                assert list(sdk.chat.completions.create(**asked, stream=True))[-1].model_extra["aqta"]
    after = scrape(metrics)  # the metrics listener: no token needed
    assert moved(before, after, "aqta_chat_requests_total", provider="openai", model="gpt-4o",
                 status="ok", cache="miss") == CHATS + STREAMS
    assert moved(before, after, "aqta_http_requests_total", method="POST",
                 route="/v1/chat/completions", status="200") == CHATS + STREAMS
    assert moved(before, after, "aqta_chat_time_to_first_token_seconds_count", provider="openai") == STREAMS
    assert moved(before, after, "aqta_chat_request_duration_seconds_count",
                 provider="openai") == CHATS + STREAMS
    assert ("aqta_request_log_stream_length", ()) in after


def test_the_api_port_wants_the_token_and_the_metrics_port_serves_metrics_only(served):
    base, metrics, key = served
    refused = requests.get(f"{base}/metrics", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_metrics_token"
    wrong = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer not-the-token"}, timeout=10)
    assert wrong.status_code == 401 and "aqta_" not in wrong.text
    assert requests.get(f"{metrics}/healthz", timeout=10).status_code == 200
    other = requests.get(f"{metrics}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    # A Host header naming the metrics port does not make the API's port the metrics listener.
    spoofed = requests.get(f"{base}/metrics", headers={"Host": metrics.removeprefix("http://")},
                           timeout=10)
    assert spoofed.status_code == 401
