"""Admission when Redis loses its counters or stalls: quotas rebuilt from the request log, fast 503s."""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import storage.keys as keys_repo
import storage.requests as requests_repo
from app.gateway.request_log.drain import drain_all
from app.redis_client import FailFastRedis
from tests.conftest import Account
from tests.fakes.flushing_redis import FlushingRedisProxy
from tests.gateway.admission.test_admission import chat, set_limits
from tests.support import log_lines, wait_for
from tests.support.request_records import request_record

SOCKET_TIMEOUT_SECONDS = 2.0  # app.connections: the Redis client's socket timeout
MARGIN_SECONDS = 1.0  # generous for a loaded machine; the bug took 6 to 8 seconds


def test_a_quota_survives_a_redis_restart_without_persistence(make_gateway, make_account,
                                                             private_redis, tmp_path):
    private_redis.start()
    gateway = make_gateway(redis_url=private_redis.url)
    account = make_account(tier="pro")
    set_limits(gateway.app, account, monthly_quota=5)
    assert [chat(gateway, account).status_code for _ in range(6)] == [200] * 5 + [402]
    with gateway.app.app_context():
        drain_all()  # as the worker does every second: the records are in the table
    private_redis.restart()  # no persistence: every counter is gone
    refused = chat(gateway, account)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "quota_exceeded"
    other = make_account(tier="pro")  # a key the log has never seen starts at nothing
    set_limits(gateway.app, other, monthly_quota=5)
    assert chat(gateway, other).status_code == 200


def test_a_counter_is_rebuilt_from_this_months_log_for_its_own_key(make_gateway, make_account, redis_url,
                                                                    jobs_namespace):
    gateway = make_gateway(redis_url=redis_url, redis_key_prefix=jobs_namespace + ":")
    first = make_account(tier="pro")
    with gateway.app.app_context():
        created = gateway.app.test_client().post("/api/keys", json={"name": "second"}, headers=first.headers)
        second = Account(first.user, created.json["key"], created.json["id"])
        starts = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        requests_repo.insert_batch([
            request_record(first.user.id, first.key_id, starts),  # the month's first instant counts
            request_record(first.user.id, first.key_id, starts + timedelta(days=1)),
            request_record(first.user.id, first.key_id, starts - timedelta(seconds=1)),  # last month's
            request_record(first.user.id, second.key_id, starts + timedelta(hours=1)),
        ])
        keys_repo.set_limits(first.user.id, first.key_id, monthly_quota=3)
        keys_repo.set_limits(first.user.id, second.key_id, monthly_quota=2)
    # Redis has no counter for this month yet: each is set from the log on its first use,
    # each key's from its own requests this month, the account's from all of them.
    assert [chat(gateway, first).status_code for _ in range(2)] == [200, 402]
    assert [chat(gateway, second).status_code for _ in range(2)] == [200, 402]
    counters = redis.Redis.from_url(redis_url)
    assert counters.get(f"{jobs_namespace}:quota:{starts:%Y-%m}:account:{first.user.id}") == b"5"


def test_a_count_that_cannot_be_given_back_never_fails_the_answer(make_gateway, make_account, private_redis,
                                                                   fakes, caplog):
    private_redis.start()
    gateway = make_gateway(redis_url=private_redis.url)
    account = make_account(tier="pro")
    upstream_may_answer = threading.Event()
    fakes["openai"].fail_next(status=500, held_until=upstream_may_answer)
    answers = []
    with caplog.at_level(logging.ERROR, logger="app.gateway.admission.quotas"):
        asking = threading.Thread(target=lambda: answers.append(chat(gateway, account, model="gpt-4o")))
        asking.start()
        wait_for(lambda: fakes["openai"].received, "the request to reach the upstream", 10)
        private_redis.stop()  # counted, and gone before the failed request gives its count back
        upstream_may_answer.set()
        asking.join(timeout=30)
    assert not asking.is_alive()
    # The caller gets the upstream's failure, not a 500 about the quota; the operator's log
    # says which counts were not given back.
    assert answers[0].status_code == 502
    assert log_lines(caplog, "app.gateway.admission.quotas") == [
        f"could not release quota for ('key:{account.key_id}', 'account:{account.user.id}')"]


def test_counters_lost_again_while_being_rebuilt_refuse_the_request(make_gateway, make_account,
                                                                     private_redis, caplog):
    private_redis.start()
    proxy = FlushingRedisProxy(private_redis.url)
    try:
        gateway = make_gateway(redis_url=proxy.url)
        account = make_account(tier="pro")
        proxy.flush_after_the_next_rebuild()  # Redis is emptied between the rebuild and the count
        with caplog.at_level(logging.WARNING, logger="app.gateway.admission.quotas"):
            refused = chat(gateway, account)
        # Refused, not counted from nothing and not a 500; the operator's log says why.
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "quota_unavailable"
        assert log_lines(caplog, "app.gateway.admission.quotas") == [
            "quota check failed, refusing the request: quota counters vanished while being rebuilt"]
        assert chat(gateway, account).status_code == 200
    finally:
        proxy.stop()


def test_records_not_yet_drained_count_in_the_rebuild(make_gateway, make_account, redis_url,
                                                      jobs_namespace):
    gateway = make_gateway(redis_url=redis_url, redis_key_prefix=jobs_namespace + ":",
                           request_log_stream=jobs_namespace + ":request-log")
    account = make_account(tier="pro")
    set_limits(gateway.app, account, monthly_quota=3)
    assert [chat(gateway, account).status_code for _ in range(3)] == [200] * 3
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.scan_iter(f"{jobs_namespace}:quota:*"))  # lost; the stream is not
    assert chat(gateway, account).status_code == 402


def test_requests_wait_with_a_503_while_the_counters_are_rebuilt(make_gateway, make_account,
                                                                 redis_url, jobs_namespace):
    prefix = jobs_namespace + ":"
    gateway = make_gateway(redis_url=redis_url, redis_key_prefix=prefix)
    account = make_account(tier="pro")
    client = redis.Redis.from_url(redis_url)
    # Another process is rebuilding this key's counter from the log.
    client.set(f"{prefix}rebuilding:{prefix}quota:{time.strftime('%Y-%m', time.gmtime())}:"
               f"key:{account.key_id}", 1, px=10_000)
    waiting = chat(gateway, account)
    assert waiting.status_code == 503
    assert waiting.json()["error"]["code"] == "counters_rebuilding"
    assert int(waiting.headers["Retry-After"]) >= 1
    client.delete(*client.scan_iter(f"{prefix}rebuilding:*"))
    assert chat(gateway, account).status_code == 200


def test_a_stalled_redis_fails_requests_within_the_socket_timeout(make_gateway, make_account,
                                                                  private_redis):
    private_redis.start()
    gateway = make_gateway(redis_url=private_redis.url)
    account = make_account(tier="pro")
    assert chat(gateway, account).status_code == 200
    private_redis.pause()
    for _ in range(2):
        started = time.monotonic()
        response = chat(gateway, account)
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "quota_unavailable"
        assert elapsed < SOCKET_TIMEOUT_SECONDS + MARGIN_SECONDS
    private_redis.resume()


def test_a_pipeline_that_timed_out_makes_the_next_commands_fail_at_once(private_redis):
    """A request's log record goes to Redis in a pipeline: its timeout marks Redis stalled
    too, so the next request's admission fails at once instead of waiting the timeout again."""
    private_redis.start()
    client = FailFastRedis.from_url(private_redis.url, socket_timeout=0.5,
                                    retry=Retry(NoBackoff(), 0))
    client.ping()
    private_redis.pause()
    try:
        with pytest.raises(redis.TimeoutError), client.pipeline(transaction=False) as pipe:
            pipe.xadd("aqta-test:stalled", {"r": b"record"})
            pipe.execute()
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            client.get("aqta-test:stalled")
        with pytest.raises(redis.ConnectionError), client.pipeline(transaction=False) as pipe:
            pipe.get("aqta-test:stalled")
            pipe.execute()
        assert time.monotonic() - started < 0.4  # neither waited out the 0.5 s timeout
    finally:
        private_redis.resume()
