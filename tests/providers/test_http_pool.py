"""The provider's pool manager: each URL parsed and its pool found once, not on every call."""
from __future__ import annotations

import sys

import urllib3

from tests.providers.test_openai import chat_request, provider_for


def pool_lookups(call) -> int:
    """How many times urllib3's PoolManager looks a host's pool up while ``call`` runs."""
    lookups = 0

    def count(frame, event, arg):
        nonlocal lookups
        if event == "call" and frame.f_code is urllib3.PoolManager.connection_from_host.__code__:
            lookups += 1

    sys.setprofile(count)
    try:
        call()
    finally:
        sys.setprofile(None)
    return lookups


def test_a_url_finds_its_pool_once(openai_fake):
    provider = provider_for(openai_fake)
    assert pool_lookups(lambda: provider.chat(chat_request())) == 1
    assert pool_lookups(lambda: provider.chat(chat_request())) == 0
    assert pool_lookups(lambda: list(provider.stream(chat_request(stream=True)))) == 0  # same URL
    assert len(openai_fake.received) == 3
    assert len({request.client_address for request in openai_fake.received}) == 1


def test_routes_are_forgotten_with_the_pools(openai_fake):
    provider = provider_for(openai_fake)
    provider.chat(chat_request())
    provider.pool.clear()
    assert pool_lookups(lambda: provider.chat(chat_request())) == 1
    assert provider.pool.pools.keys()  # the manager holds the pool the route now names
    assert len(openai_fake.received) == 2


def test_a_new_pool_forgets_the_routes(openai_fake):
    provider = provider_for(openai_fake)
    provider.chat(chat_request())
    provider.pool.connection_from_url("http://127.0.0.1:9/")  # another host: might evict ours
    assert pool_lookups(lambda: provider.chat(chat_request())) == 1
