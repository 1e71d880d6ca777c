"""Admission through HTTP: rate limits, monthly quotas and their order, embedded and on Redis."""
from __future__ import annotations

import itertools
import logging
import time

import openai
import pytest
import redis
import requests

import storage.keys as keys_repo
from app.gateway.admission.rate_limits import MemoryRateWindows
from tests.support import Clock, log_lines

MESSAGES = [{"role": "user", "content": "Hello"}]
_questions = itertools.count()  # each chat() asks a new one


@pytest.fixture(params=["embedded", "redis"])
def mode(request):
    return request.param


@pytest.fixture
def live(make_gateway, mode, request):
    """The gateway in this mode; extra settings may be passed through ``make``."""
    def make(**overrides):
        if mode == "redis":
            overrides.setdefault("redis_url", request.getfixturevalue("redis_url"))
            overrides.setdefault("redis_key_prefix", request.getfixturevalue("jobs_namespace") + ":")
        return make_gateway(**overrides)

    return make


def clocked(gateway) -> Clock:
    """Admission in ``gateway`` counts by a clock the test moves; it starts standing still."""
    clock = Clock()
    gateway.app.extensions["aqta.admission_clock"] = clock
    return clock


def chat(gateway, account, model="mock-1", **extra):
    """One request; a question of its own unless ``extra`` says otherwise, so repeats are no loop."""
    body = {"model": model, "messages": distinct(next(_questions)), **extra}
    return requests.post(f"{gateway.url}/v1/chat/completions", headers=account.headers, json=body, timeout=10)


def distinct(n: int) -> list[dict]:
    """A question of its own (five digits are an id, not a counter): no loop, however fast."""
    return [{"role": "user", "content": f"Question {n:05d}."}]


def set_limits(app, account, **limits):
    with app.app_context():
        keys_repo.set_limits(account.user.id, account.key_id, **limits)


def test_rate_limit_headers_and_refusal(live, make_account):
    gateway = live()
    free = make_account(tier="free")
    remaining = []
    for n in range(5):
        response = chat(gateway, free, messages=distinct(n))
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert int(response.headers["X-RateLimit-Reset"]) > time.time() - 1
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    # Spelled on the wire as documented (lookups ignore case; a reader of the raw answer does not).
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response.headers)
    refused = chat(gateway, free)
    assert refused.status_code == 429
    assert {"Retry-After", "X-RateLimit-Remaining"} <= set(refused.headers)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_rate_limit_is_per_key(live, make_account):
    gateway = live()
    first, second = make_account(tier="free"), make_account(tier="free")
    for n in range(5):
        assert chat(gateway, first, messages=distinct(n)).status_code == 200
    assert chat(gateway, first).status_code == 429
    assert chat(gateway, second).status_code == 200


def test_the_sdk_sees_a_rate_limit_error(live, make_account, app):
    gateway = live()
    account = make_account(tier="pro")
    set_limits(gateway.app, account, rpm_limit=1)
    client = gateway.client(account.key)
    client.chat.completions.create(model="mock-1", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="mock-1", messages=MESSAGES)
    assert raised.value.code == "rate_limit_exceeded"


def test_moving_window_has_no_burst_at_the_window_edge(live, make_account):
    # A 2-second window with a limit of 3. A fixed window would allow 3 more right
    # after its boundary; a moving window frees only the slots whose requests left it.
    gateway = live(rate_limit_window_seconds=2)
    clock = clocked(gateway)
    started = clock.now
    account = make_account(tier="pro")
    set_limits(gateway.app, account, rpm_limit=3)
    assert chat(gateway, account).status_code == 200
    clock.now += 1.0
    assert chat(gateway, account).status_code == 200
    assert chat(gateway, account).status_code == 200
    assert chat(gateway, account).status_code == 429
    clock.now = started + 2.2
    assert chat(gateway, account).status_code == 200  # the first request left the window
    assert chat(gateway, account).status_code == 429  # the other two are still in it


def test_the_window_is_sixty_seconds_and_a_slot_frees_at_its_edge(live, make_account):
    # The default window, to the millisecond: a request made at t holds its slot
    # until t + 60 s exactly, and no longer.
    gateway = live()
    clock = clocked(gateway)
    started = int(clock.now)
    account = make_account(tier="pro")
    set_limits(gateway.app, account, rpm_limit=2)

    def at(seconds: float) -> requests.Response:
        clock.now = started + seconds
        return chat(gateway, account)

    assert at(0).status_code == 200
    assert at(1).status_code == 200
    refused = at(1)
    assert refused.status_code == 429
    assert refused.json()["error"]["message"] == (
        "Rate limit of 2 requests per minute reached for this key; "
        "retry after the time in the Retry-After header.")
    assert (refused.headers["Retry-After"], refused.headers["X-RateLimit-Reset"]) == ("59", str(started + 60))
    refused = at(59.999)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    admitted = at(60)  # the first request leaves the window now; the second is still in it
    assert admitted.status_code == 200
    assert admitted.headers["X-RateLimit-Reset"] == str(started + 61)
    assert at(60).status_code == 429
    assert at(61).status_code == 200
    assert at(61).status_code == 429
    assert [at(121).status_code for _ in range(3)] == [200, 200, 429]  # every slot freed at once


def test_an_idle_keys_rate_window_leaves_redis_after_the_window(make_gateway, make_account, redis_url,
                                                                jobs_namespace):
    gateway = make_gateway(redis_url=redis_url, redis_key_prefix=jobs_namespace + ":")
    account = make_account(tier="pro")
    assert chat(gateway, account).status_code == 200
    # Expired, not kept for ever: a key that stops calling leaves nothing behind in Redis.
    ttl = redis.Redis.from_url(redis_url).pttl(f"{jobs_namespace}:rate:{account.key_id}")
    assert 0 < ttl <= 60_000


def test_the_embedded_windows_forget_the_least_recently_used_key_first():
    windows = MemoryRateWindows(max_keys=2)
    for key in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" arrives
        windows.hit(key, 1, 60, now=1000.0)
    assert windows.hit("a", 1, 60, now=1001.0)[0] is False  # still counted
    assert windows.hit("c", 1, 60, now=1001.0)[0] is False
    assert windows.hit("b", 1, 60, now=1001.0)[0] is True  # forgotten: its window starts again


def test_monthly_quota_admits_exactly_n(live, make_account):
    gateway = live()
    account = make_account(tier="pro")
    set_limits(gateway.app, account, monthly_quota=3)
    assert [chat(gateway, account).status_code for _ in range(5)] == [200, 200, 200, 402, 402]
    refused = chat(gateway, account).json()["error"]
    assert refused["code"] == "quota_exceeded"
    assert "3 requests" in refused["message"] and "resets at" in refused["message"]


def test_a_quota_refusal_still_carries_the_rate_limit_headers(live, make_account):
    gateway = live()
    account = make_account(tier="pro")
    set_limits(gateway.app, account, rpm_limit=10, monthly_quota=1)
    assert chat(gateway, account).status_code == 200
    refused = chat(gateway, account)
    assert refused.status_code == 402
    # The rate limit is checked first and the refused request took its slot: the answer says so.
    assert (refused.headers["X-RateLimit-Limit"], refused.headers["X-RateLimit-Remaining"]) == ("10", "8")


def test_refused_and_failed_requests_do_not_use_quota(live, make_account, fakes):
    gateway = live()
    account = make_account(tier="pro")
    set_limits(gateway.app, account, monthly_quota=2)
    assert chat(gateway, account, model="gpt-17").status_code == 404  # unknown model
    assert chat(gateway, account, messages=[]).status_code == 400  # invalid
    fakes["openai"].fail_next(status=500)
    assert chat(gateway, account, model="gpt-4o").status_code == 502  # failed upstream
    fakes["openai"].fail_next(status=503)
    assert chat(gateway, account, model="gpt-4o", stream=True).status_code == 502
    assert [chat(gateway, account).status_code for _ in range(3)] == [200, 200, 402]


def test_a_failed_request_gives_back_exactly_its_own_count(live, make_account, fakes):
    gateway = live()
    bystander, failing = make_account(tier="pro"), make_account(tier="pro")
    for account in (bystander, failing):
        set_limits(gateway.app, account, monthly_quota=2)
    assert chat(gateway, bystander).status_code == 200
    fakes["openai"].fail_next(status=500)
    assert chat(gateway, failing, model="gpt-4o").status_code == 502
    # One given back to the failing key alone: not two, and nothing of anyone else's.
    assert [chat(gateway, failing).status_code for _ in range(3)] == [200, 200, 402]
    assert [chat(gateway, bystander).status_code for _ in range(2)] == [200, 402]


def test_free_tier_refusal_does_not_use_quota_or_rate(live, make_account):
    gateway = live()
    free = make_account(tier="free")
    for _ in range(6):
        assert chat(gateway, free, model="gpt-4o").status_code == 403
    assert chat(gateway, free).status_code == 200


def test_streams_count_against_the_quota(live, make_account):
    gateway = live()
    account = make_account(tier="pro")
    set_limits(gateway.app, account, monthly_quota=1)
    assert chat(gateway, account, stream=True).status_code == 200
    assert chat(gateway, account, stream=True).status_code == 402


def test_owner_can_lower_but_not_raise_limits(client, make_account):
    account = make_account(tier="starter")
    url = f"/api/keys/{account.key_id}"
    lowered = client.patch(url, json={"rpm_limit": 10, "monthly_quota": 50}, headers=account.headers)
    assert lowered.status_code == 200
    assert (lowered.json["rpm_limit"], lowered.json["monthly_quota"]) == (10, 50)
    raised = client.patch(url, json={"rpm_limit": 101}, headers=account.headers)
    assert raised.status_code == 403
    assert raised.json["error"]["code"] == "insufficient_tier"
    reset = client.patch(url, json={"rpm_limit": None}, headers=account.headers)
    assert reset.json["rpm_limit"] == 100
    assert client.patch(url, json={"rpm_limit": 0}, headers=account.headers).status_code == 400
    other = make_account(tier="starter")
    assert client.patch(url, json={"rpm_limit": 1}, headers=other.headers).status_code == 404


def test_listing_shows_the_effective_limits(client, make_account):
    account = make_account(tier="pro")
    listed = client.get("/api/keys", headers=account.headers).json["data"][0]
    assert (listed["rpm_limit"], listed["monthly_quota"]) == (1000, 1_000_000)


# -- Redis going away ---------------------------------------------------------------------


def test_redis_outage_fails_quota_closed_and_the_rest_open(make_gateway, private_redis, make_account, caplog):
    private_redis.start()
    gateway = make_gateway(redis_url=private_redis.url)
    account = make_account(tier="pro")
    assert chat(gateway, account).status_code == 200
    private_redis.stop()
    # Quotas fail closed: no request is admitted that could not be counted.
    with caplog.at_level(logging.WARNING, logger="app.gateway.admission.quotas"):
        refused = chat(gateway, account)
    # The operator's log says why, with Redis's own error.
    assert log_lines(caplog, "app.gateway.admission.quotas") == [
        f"quota check failed, refusing the request: Error 111 connecting to 127.0.0.1:{private_redis.port}. "
        "Connection refused."]
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "quota_unavailable"
    assert refused.json()["error"]["message"] == "Quota accounting is unavailable; retry shortly."
    assert refused.headers["Retry-After"] == "5" and "Retry-After" in set(refused.headers)
    assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 503
    # Key management does not need Redis at all.
    assert requests.get(f"{gateway.url}/api/keys", headers=account.headers, timeout=5).status_code == 200
    private_redis.start()
    assert chat(gateway, account).status_code == 200
    assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200
