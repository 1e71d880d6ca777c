"""Events raised by the hot path reach a receiver signed, verified, and exactly once."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

import storage.keys as keys_repo
from tests.support.webhooks import FAST, wait_for


@pytest.fixture(params=["embedded", "redis"])
def gateway(app, make_gateway, request):
    # After `app` (which make_account uses): the broker and the embedded worker belong to
    # the process, and the last app built installs them.
    settings = {**FAST, "run_embedded_worker": True}
    if request.param == "redis":
        settings.update(redis_url=request.getfixturevalue("redis_url"),
                        jobs_namespace=request.getfixturevalue("jobs_namespace"))
    return make_gateway(**settings)


@pytest.fixture
def subscribed(gateway, receiver, make_account):
    """A pro account whose endpoint gets every event, verified with its secret."""
    account = make_account(tier="pro")
    created = requests.post(f"{gateway.url}/api/webhooks", headers=account.headers, timeout=5,
                            json={"url": f"{receiver.url}/hooks"})
    assert created.status_code == 201, created.text
    receiver.secrets["endpoint"] = created.json()["secret"]
    return account


def ask(gateway, account, content: str):
    return requests.post(f"{gateway.url}/v1/chat/completions", headers=account.headers, timeout=20,
                         json={"model": "mock-1", "messages": [{"role": "user", "content": content}]})


def delivered(receiver, event_type: str, count: int) -> list:
    events = wait_for(lambda: len(receiver.of_type(event_type)) >= count and receiver.of_type(event_type),
                      f"{count} {event_type} event(s)")
    assert all(event.verified_by == ["endpoint"] for event in events)
    return [event.payload for event in events]


def test_loop_detected_once_per_episode(gateway, receiver, subscribed):
    requests.patch(f"{gateway.url}/api/keys/{subscribed.key_id}", headers=subscribed.headers,
                   json={"loop_detection": {"repeat_count": 3}}, timeout=5)
    statuses = [ask(gateway, subscribed, "poll the job").status_code for _ in range(6)]
    assert statuses == [200, 200, 429, 429, 429, 429]
    [event] = delivered(receiver, "loop.detected", 1)
    assert event["data"]["key_id"] == subscribed.key_id
    assert event["data"]["pattern"] == "repeat" and event["data"]["count"] == 3
    ask(gateway, subscribed, "something new")  # changes course: the episode ends
    assert [ask(gateway, subscribed, "poll the job").status_code for _ in range(3)][-1] == 429
    assert len(delivered(receiver, "loop.detected", 2)) == 2


def test_budget_thresholds_fire_exactly_once_under_concurrency(gateway, receiver, subscribed):
    cost = Decimal(str(ask(gateway, subscribed, "question zero").json()["aqta"]["cost_eur"]))
    from app.gateway.request_log.drain import drain_all

    with gateway.app.app_context():
        drain_all()
    requests.put(f"{gateway.url}/api/budgets", headers=subscribed.headers, timeout=5,
                 json={"monthly_eur": f"{cost * 10:f}", "thresholds": [50, 80, 100]})
    with ThreadPoolExecutor(max_workers=16) as pool:
        # Five-digit numbers: a batch, not a counter (which loop detection would mask).
        statuses = list(pool.map(lambda i: ask(gateway, subscribed, f"question {i:05d}").status_code,
                                 range(1, 25)))
    assert set(statuses) == {200}  # a soft budget alerts, it does not refuse
    reached = delivered(receiver, "budget.threshold_reached", 2)
    [exceeded] = delivered(receiver, "budget.exceeded", 1)
    assert sorted(e["data"]["threshold_percent"] for e in reached) == [50, 80]
    assert exceeded["data"]["threshold_percent"] == 100
    assert exceeded["data"]["scope"] == "account"
    assert Decimal(exceeded["data"]["spent_eur"]) >= Decimal(exceeded["data"]["budget_eur"])
    for _ in range(3):  # later answers, past every threshold, raise nothing more
        ask(gateway, subscribed, "question late")
    assert len(receiver.of_type("budget.threshold_reached")) == 2
    assert len(receiver.of_type("budget.exceeded")) == 1


def test_quota_thresholds_fire_once_each(gateway, receiver, subscribed):
    with gateway.app.app_context():
        keys_repo.set_limits(subscribed.user.id, subscribed.key_id, monthly_quota=5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(lambda i: ask(gateway, subscribed, f"task {i}").status_code,
                                   range(8)))
    assert statuses == [200] * 5 + [402] * 3
    events = delivered(receiver, "quota.threshold_reached", 2)
    assert sorted((e["data"]["threshold_percent"], e["data"]["used"]) for e in events) == [(80, 4), (100, 5)]
    assert all(e["data"]["scope"] == "key" and e["data"]["quota"] == 5 for e in events)
