"""The response cache through the openai SDK: hits, misses, bypass, isolation, streamed replay."""
from __future__ import annotations

from decimal import Decimal

import openai
import pytest

MESSAGES = [{"role": "user", "content": "What is the capital of Ireland?"}]


@pytest.fixture(params=["embedded", "redis"])
def gateway(make_gateway, request):
    if request.param == "redis":
        return make_gateway(redis_url=request.getfixturevalue("redis_url"))
    return make_gateway()


def upstream_calls(fake) -> int:
    return sum(1 for received in fake.received if received.method == "POST")


def test_deterministic_request_is_answered_once(gateway, make_account, fakes):
    client = gateway.client(make_account(tier="pro").key)
    first = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    second = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    assert upstream_calls(fakes["openai"]) == 1
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.id == first.id
    cached = second.model_extra["aqta"]
    assert cached["cached"] is True and cached["provider"] == "openai"
    assert Decimal(str(cached["cost_eur"])) == 0
    assert Decimal(str(cached["saved_eur"])) == Decimal(str(first.model_extra["aqta"]["cost_eur"])) > 0
    assert first.model_extra["aqta"]["cached"] is False
    assert cached["request_id"] != first.model_extra["aqta"]["request_id"]


def test_sampled_requests_are_not_cached_unless_asked(gateway, make_account, fakes):
    client = gateway.client(make_account(tier="pro").key)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0.8)
    assert upstream_calls(fakes["openai"]) == 2
    opted_in = {"X-Aqta-Cache": "on"}
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=opted_in)
    again = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=opted_in)
    assert upstream_calls(fakes["openai"]) == 3
    assert again.model_extra["aqta"]["cached"] is True


@pytest.mark.parametrize("header", [{"Cache-Control": "no-cache"}, {"Cache-Control": "no-store"},
                                    {"X-Aqta-Cache": "off"}])
def test_bypass_headers(gateway, make_account, fakes, header):
    client = gateway.client(make_account(tier="pro").key)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=7)
    bypassed = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=7,
                                              extra_headers=header)
    assert bypassed.model_extra["aqta"]["cached"] is False
    assert upstream_calls(fakes["openai"]) == 2


def test_accounts_never_share_entries(gateway, make_account, fakes):
    for account in (make_account(tier="pro"), make_account(tier="pro")):
        answer = gateway.client(account.key).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, temperature=0)
        assert answer.model_extra["aqta"]["cached"] is False
    assert upstream_calls(fakes["openai"]) == 2


def test_keys_of_one_account_share_entries(gateway, make_account, app, fakes):
    import storage.keys as keys_repo
    from app.identity.api_keys import generate_key

    account = make_account(tier="pro")
    with gateway.app.app_context():
        new = generate_key()
        keys_repo.create(account.user.id, "second", new.key_hash, new.prefix, new.last_four)
    gateway.client(account.key).chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=1)
    hit = gateway.client(new.plaintext).chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                                               seed=1)
    assert hit.model_extra["aqta"]["cached"] is True


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_hit_replays_as_a_stream(gateway, make_account, fakes, include_usage):
    client = gateway.client(make_account(tier="pro").key)
    whole = client.chat.completions.create(model="claude-sonnet-4-0", messages=MESSAGES,
                                           temperature=0)
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(client.chat.completions.create(model="claude-sonnet-4-0", messages=MESSAGES,
                                                 temperature=0, stream=True, **options))
    assert upstream_calls(fakes["anthropic"]) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    aqta = chunks[-1].model_extra["aqta"]
    assert aqta["cached"] is True and aqta["saved_eur"] == whole.model_extra["aqta"]["cost_eur"]
    assert (chunks[-1].usage is not None) == include_usage


def test_a_streamed_answer_is_stored_for_later(gateway, make_account, fakes):
    client = gateway.client(make_account(tier="pro").key)
    streamed = list(client.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, temperature=0, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    hit = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, temperature=0)
    assert upstream_calls(fakes["google"]) == 1
    assert hit.model_extra["aqta"]["cached"] is True
    assert hit.choices[0].message.content == text
    assert hit.usage.completion_tokens > 0


def test_a_failed_answer_is_not_cached(gateway, make_account, fakes):
    client = gateway.client(make_account(tier="pro").key)
    fakes["openai"].fail_next(break_after=2)
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0,
                                            stream=True))
    answer = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    assert answer.model_extra["aqta"]["cached"] is False
