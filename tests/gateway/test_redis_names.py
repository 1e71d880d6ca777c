"""Everything the app writes in Redis is under the names of its settings, so the test suite,
which gives each test names of its own (``redis_names``) and deletes them afterwards, leaves
a shared Redis as it found it: nothing there for a deployment to read, count or drain."""
from __future__ import annotations

import openai
import pytest
import redis
import requests

from tests.conftest import PASSWORD

QUESTION = [{"role": "user", "content": "What is the capital of Ireland?"}]


def test_every_key_the_app_writes_is_under_the_tests_own_names(make_gateway, make_account,
                                                                private_redis, redis_names):
    private_redis.start()  # a Redis of this test's own: every key in it was written by this app
    gateway = make_gateway(redis_url=private_redis.url)
    pro, clinic = make_account(tier="pro"), make_account(tier="healthcare")
    client = gateway.client(pro.key)
    for _ in range(4):  # answered, then cached
        client.chat.completions.create(model="mock-1", messages=QUESTION, temperature=0)
    with pytest.raises(openai.RateLimitError):  # a loop, with its alert mark
        client.chat.completions.create(model="mock-1", messages=QUESTION, temperature=0)
    requests.put(f"{gateway.url}/api/budgets", headers=pro.headers, timeout=5,
                 json={"monthly_eur": "10.00", "hard_stop": True})
    client.chat.completions.create(model="mock-1", messages=[{"role": "user", "content": "Hi."}])
    gateway.client(clinic.key).chat.completions.create(model="mock-1", messages=QUESTION)
    requests.post(f"{gateway.url}/api/auth/login", timeout=5,
                  json={"email": pro.user.email, "password": PASSWORD})
    written = [key.decode() for key in redis.Redis.from_url(private_redis.url).scan_iter()]
    tag = redis_names["jobs_namespace"]
    assert len(written) >= 8  # rate, quotas, loops, cache, spend, limits, both streams, ...
    assert [key for key in written if not key.startswith(tag)] == []
