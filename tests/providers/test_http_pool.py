"""The provider's pool manager: each URL parsed and its pool found once, not on every call."""
from __future__ import annotations

import urllib3

from tests.providers.test_openai import chat_request, provider_for
from tests.support import calls_to


def pool_lookups(call) -> int:
    """How many times urllib3's PoolManager looks a host's pool up while ``call`` runs."""
    return calls_to(urllib3.PoolManager.connection_from_host, call)


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
    (held,) = provider.pool.pools.keys()  # the manager holds the pool the route now names
    assert provider.pool.pools[held].num_requests == 1  # and the request after the clear went through it
    assert len(openai_fake.received) == 2


def test_a_new_pool_forgets_the_routes(openai_fake):
    provider = provider_for(openai_fake)
    provider.chat(chat_request())
    provider.pool.connection_from_url("http://127.0.0.1:9/")  # another host: might evict ours
    assert pool_lookups(lambda: provider.chat(chat_request())) == 1
