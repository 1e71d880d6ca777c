"""Loop detection through HTTP and the openai SDK, embedded and on Redis."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import redis
import requests

import storage.keys as keys_repo
import storage.loop_events as loop_events

QUESTION = [{"role": "user", "content": "Check the build status and report."}]
# Tighter than the defaults so a test needs a handful of requests, not a minute of them.
THRESHOLDS = {"repeat_count": 3}


@pytest.fixture(params=["embedded", "redis"])
def gateway(make_gateway, request):
    if request.param == "redis":
        return make_gateway(redis_url=request.getfixturevalue("redis_url"))
    return make_gateway()


@pytest.fixture
def agent(gateway, make_account):
    account = make_account(tier="pro")
    response = requests.patch(f"{gateway.url}/api/keys/{account.key_id}", headers=account.headers,
                              json={"loop_detection": THRESHOLDS}, timeout=5)
    assert response.status_code == 200
    assert response.json()["loop_detection"] == THRESHOLDS
    return account


def ask(gateway, account, messages=QUESTION, **extra):
    return requests.post(f"{gateway.url}/v1/chat/completions", headers=account.headers, timeout=10,
                         json={"model": "mock-1", "messages": messages, **extra})


def test_a_repeating_agent_is_refused_before_the_provider(gateway, agent):
    assert [ask(gateway, agent).status_code for _ in range(2)] == [200, 200]
    refused = ask(gateway, agent)
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"]["code"] == "loop_detected"
    assert body["aqta"]["loop_detected"] is True
    assert body["aqta"]["pattern"] == "repeat"
    assert refused.headers["x-should-retry"] == "false"


def assert_refused_as_a_loop(raised: pytest.ExceptionInfo, count: int) -> None:
    assert raised.value.status_code == 429
    assert raised.value.code == "loop_detected"
    body = raised.value.response.json()
    assert body["aqta"]["loop_detected"] is True and body["aqta"]["pattern"] == "repeat"
    assert body["aqta"]["count"] == count


def test_a_loop_on_a_fast_upstream_is_refused_at_the_fifth_request(gateway, make_account):
    """An agent re-sending its request as soon as the answer comes, with the default thresholds."""
    client = gateway.client(make_account(tier="pro").key)
    for _ in range(4):
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    for count in range(5, 11):  # and it stays refused, however fast the agent retries
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="gpt-4o", messages=QUESTION)
        assert_refused_as_a_loop(raised, count)


def test_a_loop_on_cached_answers_is_refused(gateway, make_account, fakes):
    client = gateway.client(make_account(tier="pro").key)
    answers = [client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=QUESTION, temperature=0).http_response.json() for _ in range(4)]
    assert [a["aqta"]["cached"] for a in answers] == [False, True, True, True]
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=QUESTION, temperature=0)
    assert_refused_as_a_loop(raised, 5)
    assert len(fakes["openai"].received) == 1


def test_parallel_samples_in_flight_together_are_not_a_loop(gateway, make_account, fakes):
    """Best-of-8 sampled client side: eight identical requests at once, each answered in 0.5 s."""
    client = gateway.client(make_account(tier="pro").key)
    fakes["openai"].fail_next(hang=0.5, times=8)  # no failure: each answer just takes 0.5 s

    def sample(_):
        return client.chat.completions.create(model="gpt-4o", messages=QUESTION, temperature=1)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(sample, range(8)))
    assert len(answers) == 8 and all(a.choices for a in answers)
    client.chat.completions.create(model="gpt-4o", messages=QUESTION, temperature=1)  # round 2


def test_one_loop_event_per_episode_and_it_clears_on_a_change_of_course(gateway, agent):
    for _ in range(2):
        ask(gateway, agent)
    assert [ask(gateway, agent).status_code for _ in range(3)] == [429, 429, 429]
    with gateway.app.app_context():
        events = loop_events.list_for_user(agent.user.id)
    assert len(events) == 1
    assert events[0].pattern == "repeat" and events[0].key_id == agent.key_id
    assert events[0].count == 3 and events[0].fingerprints
    changed = [{"role": "user", "content": "The build is red: fix the failing test in parser.py."}]
    assert ask(gateway, agent, messages=changed).status_code == 200


def test_refused_loops_use_no_quota(gateway, agent):
    with gateway.app.app_context():
        keys_repo.set_limits(agent.user.id, agent.key_id, monthly_quota=3)
    statuses = [ask(gateway, agent).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    other = [{"role": "user", "content": "Something else entirely."}]
    assert ask(gateway, agent, messages=other).status_code == 200  # the third admitted request
    assert ask(gateway, agent, messages=[{"role": "user", "content": "And more."}]).status_code == 402


def test_retries_after_upstream_errors_are_not_a_loop(gateway, make_account, fakes):
    account = make_account(tier="pro")
    requests.patch(f"{gateway.url}/api/keys/{account.key_id}", headers=account.headers,
                   json={"loop_detection": THRESHOLDS}, timeout=5)
    fakes["openai"].fail_next(status=500, times=4)
    statuses = [ask(gateway, account, model="gpt-4o").status_code for _ in range(5)]
    assert statuses == [502, 502, 502, 502, 200]


def test_end_users_of_one_key_are_kept_apart(gateway, agent):
    for user in ("alice", "bob", "carol", "dave"):
        assert ask(gateway, agent, user=user).status_code == 200


def test_the_sdk_does_not_retry_a_loop(gateway, agent):
    client = gateway.client(agent.key, max_retries=2)
    for _ in range(2):
        client.chat.completions.create(model="mock-1", messages=QUESTION)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="mock-1", messages=QUESTION)
    assert raised.value.code == "loop_detected"
    assert raised.value.body["code"] == "loop_detected"


def test_loop_detection_can_be_switched_off_per_key(gateway, make_account):
    account = make_account(tier="pro")
    requests.patch(f"{gateway.url}/api/keys/{account.key_id}", headers=account.headers,
                   json={"loop_detection": {"enabled": False}}, timeout=5)
    assert {ask(gateway, account).status_code for _ in range(6)} == {200}


def test_a_key_that_stored_the_retired_burst_seconds_keeps_working(gateway, make_account):
    account = make_account(tier="pro")
    with gateway.app.app_context():
        keys_repo.set_limits(account.user.id, account.key_id,
                             loop_settings={"repeat_count": 3, "burst_seconds": 1.0})
    assert [ask(gateway, account).status_code for _ in range(3)] == [200, 200, 429]


def test_a_keys_history_limit_bounds_how_far_back_a_repeat_is_seen(gateway, make_account):
    account = make_account(tier="pro")
    thresholds = {"repeat_count": 2, "cycle_max_period": 2, "history_limit": 6}
    response = requests.patch(f"{gateway.url}/api/keys/{account.key_id}", headers=account.headers,
                              json={"loop_detection": thresholds}, timeout=5)
    assert response.status_code == 200
    first = [{"role": "user", "content": "Summarise the build log."}]
    assert ask(gateway, account, first).status_code == 200
    for topic in ["the weather", "a recipe", "the news", "a poem", "a joke", "the time"]:
        asked = [{"role": "user", "content": f"Tell me about {topic}."}]
        assert ask(gateway, account, asked).status_code == 200
    # Six requests since: the first one has left the six-request history, so this is no repeat.
    assert ask(gateway, account, first).status_code == 200
    assert ask(gateway, account, first).status_code == 429


@pytest.mark.parametrize("thresholds", [{"repeat_count": 1}, {"nonsense": 3}, {"similarity": 2},
                                        {"burst_seconds": 0}])
def test_bad_thresholds_are_refused(gateway, make_account, thresholds):
    account = make_account(tier="pro")
    response = requests.patch(f"{gateway.url}/api/keys/{account.key_id}", headers=account.headers,
                              json={"loop_detection": thresholds}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "loop_detection"


def test_a_loop_is_refused_when_redis_has_forgotten_its_scripts(make_gateway, make_account, private_redis):
    """The "answered" mark rides in the request log's round trip as a bare EVALSHA; when Redis
    refuses it (NOSCRIPT: restarted, or SCRIPT FLUSH) it is sent again alone, so every request
    is still marked and the fifth repeat is still refused."""
    private_redis.start()
    gateway = make_gateway(redis_url=private_redis.url)
    client = gateway.client(make_account(tier="pro").key)
    server = redis.Redis.from_url(private_redis.url)
    for _ in range(4):
        server.script_flush()
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    server.script_flush()
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert_refused_as_a_loop(raised, 5)
