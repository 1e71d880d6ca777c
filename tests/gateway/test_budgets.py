"""Budgets through HTTP: the API, the hard stop, and spend counted in both modes."""
from __future__ import annotations

from decimal import Decimal

import pytest
import redis
import requests

from app.gateway.request_log.drain import drain_all

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture(params=["embedded", "redis"])
def gateway(make_gateway, request):
    if request.param == "redis":
        return make_gateway(redis_url=request.getfixturevalue("redis_url"))
    return make_gateway()


def put(gateway, account, **body):
    return requests.put(f"{gateway.url}/api/budgets", headers=account.headers, json=body, timeout=5)


def ask(gateway, account, content="Hello"):
    return requests.post(f"{gateway.url}/v1/chat/completions", headers=account.headers, timeout=10,
                         json={"model": "mock-1",
                               "messages": [{"role": "user", "content": content}]})


def test_set_read_and_remove_budgets(gateway, make_account):
    account = make_account(tier="pro")
    created = put(gateway, account, monthly_eur="100.50", thresholds=[90, 50], hard_stop=True)
    assert created.status_code == 200
    assert created.json() | {"month": None} == {
        "key_id": None, "monthly_eur": "100.50000000", "thresholds": [50, 90], "hard_stop": True,
        "spent_eur": "0.00000000", "month": None}
    assert put(gateway, account, key_id=account.key_id, monthly_eur="5").status_code == 200
    listed = requests.get(f"{gateway.url}/api/budgets", headers=account.headers, timeout=5).json()
    assert [b["key_id"] for b in listed["data"]] == [None, account.key_id]
    assert listed["data"][1]["thresholds"] == [50, 80, 100]
    assert put(gateway, account, monthly_eur=None).status_code == 204
    listed = requests.get(f"{gateway.url}/api/budgets", headers=account.headers, timeout=5).json()
    assert [b["key_id"] for b in listed["data"]] == [account.key_id]


@pytest.mark.parametrize("body, field", [
    ({"monthly_eur": "-1"}, "monthly_eur"),
    ({"monthly_eur": "0"}, "monthly_eur"),
    ({"monthly_eur": "1.000000001"}, "monthly_eur"),
    ({"monthly_eur": "ten"}, "monthly_eur"),
    ({"monthly_eur": "5", "thresholds": [0]}, "thresholds.0"),
    ({"monthly_eur": 5}, "monthly_eur"),
    ({"monthly_eur": "5", "hard_stop": 1}, "hard_stop"),
])
def test_bad_budgets_are_refused(gateway, make_account, body, field):
    response = put(gateway, make_account(tier="pro"), **body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field


def test_another_users_key_is_not_found(gateway, make_account):
    mine, theirs = make_account(tier="pro"), make_account(tier="pro")
    response = put(gateway, mine, key_id=theirs.key_id, monthly_eur="5")
    assert response.status_code == 404


def test_hard_stop_refuses_once_spent_and_uses_no_quota(gateway, make_account):
    account = make_account(tier="pro")
    first = ask(gateway, account, "question first")  # two words, like the ones below: same cost
    cost = Decimal(str(first.json()["aqta"]["cost_eur"]))
    with gateway.app.app_context():
        drain_all()  # a new budget starts from what the request log holds for the month
    # Room for three answers like the first (the mock's answers are the same length).
    put(gateway, account, monthly_eur=str(cost * 3), hard_stop=True)
    answered = [ask(gateway, account, f"question {i}").status_code for i in range(4)]
    assert answered == [200, 200, 402, 402]
    refused = ask(gateway, account, "question again").json()["error"]
    assert refused["code"] == "budget_exceeded"
    assert "EUR" in refused["message"]
    spent = requests.get(f"{gateway.url}/api/budgets", headers=account.headers, timeout=5).json()
    assert Decimal(spent["data"][0]["spent_eur"]) == cost * 3


def test_a_key_budget_stops_only_that_key(gateway, make_account, app):
    import storage.keys as keys_repo
    from app.identity.api_keys import generate_key

    account = make_account(tier="pro")
    with gateway.app.app_context():
        new = generate_key()
        keys_repo.create(account.user.id, "other", new.key_hash, new.prefix, new.last_four)
    put(gateway, account, key_id=account.key_id, monthly_eur="0.00000001", hard_stop=True)
    assert ask(gateway, account).status_code == 200  # nothing spent yet
    assert ask(gateway, account, "more").status_code == 402
    other = requests.post(f"{gateway.url}/v1/chat/completions", timeout=10,
                          headers={"Authorization": f"Bearer {new.plaintext}"},
                          json={"model": "mock-1", "messages": MESSAGES})
    assert other.status_code == 200


def test_soft_budget_never_refuses(gateway, make_account):
    account = make_account(tier="pro")
    put(gateway, account, monthly_eur="0.00000001")
    assert [ask(gateway, account, f"q{i}").status_code for i in range(3)] == [200, 200, 200]


def test_a_hard_stop_on_redis_reads_its_spend_in_admissions_one_round_trip(make_gateway, make_account,
                                                                           private_redis):
    private_redis.start()
    gateway = make_gateway(redis_url=private_redis.url)
    account = make_account(tier="pro")
    put(gateway, account, monthly_eur="100", hard_stop=True)  # sets the month's spend counter
    assert ask(gateway, account, "first").status_code == 200
    counters = redis.Redis.from_url(private_redis.url)
    counters.config_resetstat()
    assert ask(gateway, account, "second").status_code == 200
    # The budget's spend came back with the rate window and the quotas, in admission's
    # script: the hot path sends no read of its own for it (the spend counter's is an MGET).
    assert "cmdstat_mget" not in counters.info("commandstats")


def test_a_hard_stop_holds_after_redis_loses_the_spend(make_gateway, make_account, private_redis):
    private_redis.start()
    gateway = make_gateway(redis_url=private_redis.url)
    account = make_account(tier="pro")
    put(gateway, account, monthly_eur="0.00000001", hard_stop=True)
    assert ask(gateway, account).status_code == 200  # nothing spent yet
    with gateway.app.app_context():
        drain_all()  # as the worker does: the answer is in the request log
    private_redis.restart()  # no persistence: the spend counter is gone with the quotas
    refused = ask(gateway, account, "more")
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
