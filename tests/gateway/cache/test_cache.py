"""The response cache: keys, the use/bypass rule, stream round trips, and both backends."""
from __future__ import annotations

import copy
import logging
import threading
from decimal import Decimal

import pytest
import redis
from flask import Flask
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from app.config import Settings
from app.gateway.cache.store import (
    CacheEntry,
    MemoryCache,
    NullCache,
    RedisCache,
    ResponseCache,
    cache_decision,
    cache_key,
    chunks_to_completion,
    completion_to_chunks,
    init_app,
    teed_into,
)
from tests.support import Clock

BODY = {"model": "gpt-4o", "temperature": 0,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Weather in Dublin?"}]}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


def changed(**fields) -> dict:
    return {**copy.deepcopy(BODY), **fields}


# --- cache_key ------------------------------------------------------------------------

@pytest.mark.parametrize("other", [
    pytest.param(dict(reversed(list(BODY.items()))), id="key-order"),
    pytest.param(changed(temperature=0.0), id="0-vs-0.0"),
    pytest.param(changed(stream=True), id="stream"),
    pytest.param(changed(stream=True, stream_options={"include_usage": True}), id="stream_options"),
    pytest.param(changed(user="alice"), id="user"),
])
def test_same_answer_determining_content_gives_the_same_key(other):
    assert cache_key("usr_1", other) == cache_key("usr_1", BODY)


@pytest.mark.parametrize("other", [
    pytest.param(changed(model="gpt-4o-mini"), id="model"),
    pytest.param(changed(messages=[*BODY["messages"][:1], {"role": "user", "content": "Rain?"}]),
                 id="message-content"),
    pytest.param(changed(messages=BODY["messages"][1:]), id="message-removed"),
    pytest.param(changed(messages=[*BODY["messages"], {"role": "user", "content": "More"}]),
                 id="message-added"),
    pytest.param(changed(messages=[{**BODY["messages"][0], "role": "developer"},
                                   BODY["messages"][1]]), id="message-role"),
    pytest.param(changed(temperature=0.2), id="temperature"),
    pytest.param(changed(top_p=0.5), id="top_p"),
    pytest.param(changed(max_tokens=10), id="max_tokens"),
    pytest.param(changed(max_completion_tokens=10), id="max_completion_tokens"),
    pytest.param(changed(stop=["\n"]), id="stop"),
    pytest.param(changed(n=2), id="n"),
    pytest.param(changed(seed=7), id="seed"),
    pytest.param(changed(tools=[TOOL]), id="tools"),
    pytest.param(changed(tool_choice="none"), id="tool_choice"),
    pytest.param(changed(response_format={"type": "json_object"}), id="response_format"),
    pytest.param(changed(presence_penalty=0.5), id="presence_penalty"),
    pytest.param(changed(frequency_penalty=0.5), id="frequency_penalty"),
    pytest.param(changed(logit_bias={"50256": -100}), id="logit_bias"),
    pytest.param(changed(reasoning_effort="low"), id="unknown-to-aqta"),
])
def test_any_output_changing_difference_gives_another_key(other):
    assert cache_key("usr_1", other) != cache_key("usr_1", BODY)


def test_accounts_never_share_keys():
    assert cache_key("usr_1", BODY) != cache_key("usr_2", BODY)
    assert cache_key("usr_1", BODY).startswith("usr_1:")


# --- cache_decision -------------------------------------------------------------------

@pytest.mark.parametrize("body, headers, expected", [
    ({"temperature": 0}, {}, True),
    ({"temperature": 0.0}, {}, True),
    ({"seed": 42}, {}, True),
    ({"temperature": 1, "seed": 0}, {}, True),
    ({}, {"X-Aqta-Cache": "on"}, True),
    ({"temperature": 0.7}, {"x-aqta-cache": "ON"}, True),
    ({}, {}, False),
    ({"temperature": 0.7}, {}, False),
    ({"temperature": False}, {}, False),
    ({"seed": None}, {}, False),
    ({}, {"X-Aqta-Cache": "maybe"}, False),
    ({"temperature": 0}, {"Cache-Control": "no-cache"}, False),
    ({"temperature": 0}, {"cache-control": "max-age=0, No-Store"}, False),
    ({"temperature": 0}, {"Cache-Control": "max-age=0,no-store"}, False),  # no space after the comma
    ({"temperature": 0}, {"Cache-Control": 'no-cache="x-aqta-cache"'}, False),  # an argument is ignored
    ({"seed": 1}, {"X-Aqta-Cache": "off"}, False),
    ({}, {"X-Aqta-Cache": "on", "Cache-Control": "no-store"}, False),
    ({"temperature": 0}, {"Cache-Control": "max-age=60"}, True),
])
def test_cache_decision(body, headers, expected):
    assert cache_decision(body, headers) is expected


# --- chunks <-> completion ------------------------------------------------------------

def completion(*choices: dict, usage: dict | None = USAGE) -> dict:
    answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
              "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1",
              "choices": [{"index": i, "logprobs": None, **c} for i, c in enumerate(choices)]}
    if usage is not None:
        answer["usage"] = usage
    return answer


def text(content: str, finish_reason: str = "stop") -> dict:
    return {"message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}


def calls(*named: tuple[str, str]) -> dict:
    tool_calls = [{"id": f"call_{i}", "type": "function",
                   "function": {"name": name, "arguments": arguments}}
                  for i, (name, arguments) in enumerate(named)]
    return {"message": {"role": "assistant", "content": None, "tool_calls": tool_calls},
            "finish_reason": "tool_calls"}


ANSWERS = {
    "text": completion(text("It is 11 °C and raining.")),
    "tool-calls": completion(calls(("get_weather", '{"city": "Dublin"}'),
                                   ("get_time", '{"tz": "Europe/Dublin"}'))),
    "text-and-tool-call": completion({**calls(("get_weather", "{}")),
                                      "message": {**calls(("get_weather", "{}"))["message"],
                                                  "content": "Checking."}}),
    "n=2": completion(text("Rain."), text("Drizzle.")),
    "cut-short": completion(text("Drizzle, and", "length")),
    "no-usage": completion(text("Rain."), usage=None),
    "extra-fields": {**completion(text("Rain.")), "citations": ["https://met.ie"]},
}


def sdk_assembled(chunks: list[dict]) -> dict:
    """What the openai SDK's own stream accumulator makes of the chunks."""
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.get_final_completion().model_dump(exclude_none=True)
    for choice in final["choices"]:
        choice["message"].pop("parsed", None)
        for call in choice["message"].get("tool_calls", ()):
            call.pop("index")  # the SDK keeps the stream's position; a completion has none
            call["function"].pop("parsed_arguments", None)
    return ChatCompletion.model_validate(final).model_dump(exclude_none=True)


@pytest.mark.parametrize("name", ANSWERS)
def test_completion_replays_as_an_openai_stream_and_assembles_back(name):
    original = ANSWERS[name]
    chunks = completion_to_chunks(original)
    parsed = [ChatCompletionChunk.model_validate(chunk) for chunk in chunks]
    assert all(c.object == "chat.completion.chunk" and c.id == original["id"] for c in parsed)
    for index, _ in enumerate(original["choices"]):
        mine = [c.choices[0] for c in parsed if c.choices and c.choices[0].index == index]
        assert mine[0].delta.role == "assistant"
        assert [c.finish_reason for c in mine].count(None) == len(mine) - 1
        assert mine[-1].finish_reason == original["choices"][index]["finish_reason"]
    if "usage" in original:
        assert parsed[-1].choices == [] and parsed[-1].usage.total_tokens == USAGE["total_tokens"]
    else:
        assert all(c.usage is None for c in parsed)
    assembled = chunks_to_completion(chunks)
    assert assembled == original
    expected = ChatCompletion.model_validate(original).model_dump(exclude_none=True)
    assert ChatCompletion.model_validate(assembled).model_dump(exclude_none=True) == expected
    # The SDK's accumulator keeps only the fields it knows, and refuses cut-short answers.
    if name not in ("extra-fields", "cut-short"):
        assert sdk_assembled(chunks) == expected


def stream_chunk(choices: list[dict], **extra) -> dict:
    return {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o", "system_fingerprint": None, "usage": None, "choices": choices,
            **extra}


def delta(index: int, finish_reason: str | None = None, **fields) -> dict:
    return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish_reason}


def piece(position: int, **fields) -> list[dict]:
    return [{"index": position, **fields}]


def test_an_upstream_stream_in_pieces_assembles_like_the_sdk_does():
    """Pieces as OpenAI streams them: two choices interleaved, arguments in fragments."""
    chunks = [
        stream_chunk([delta(0, role="assistant", content="")]),
        stream_chunk([delta(1, role="assistant", content=None, tool_calls=piece(
            0, id="call_a", type="function", function={"name": "get_weather", "arguments": ""}))]),
        stream_chunk([delta(0, content="Rain ")]),
        stream_chunk([delta(1, tool_calls=piece(0, function={"arguments": '{"ci'}))]),
        stream_chunk([delta(0, content="later.")]),
        stream_chunk([delta(1, tool_calls=piece(0, function={"arguments": 'ty": "Cork"}'}))]),
        stream_chunk([delta(1, tool_calls=piece(
            1, id="call_b", type="function", function={"name": "get_time", "arguments": "{}"}))]),
        stream_chunk([delta(0, "stop")]),
        stream_chunk([delta(1, "tool_calls")]),
        stream_chunk([], usage=USAGE, aqta={"cost_eur": "0.00001000"}),
    ]
    assembled = chunks_to_completion(chunks)
    assert assembled == {
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1_700_000_000,
        "model": "gpt-4o", "usage": USAGE, "choices": [
            {"index": 0, "logprobs": None, "finish_reason": "stop",
             "message": {"role": "assistant", "content": "Rain later."}},
            {"index": 1, "logprobs": None, "finish_reason": "tool_calls",
             "message": {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "call_a", "type": "function",
                  "function": {"name": "get_weather", "arguments": '{"city": "Cork"}'}},
                 {"id": "call_b", "type": "function",
                  "function": {"name": "get_time", "arguments": "{}"}}]}}]}
    expected = ChatCompletion.model_validate(assembled).model_dump(exclude_none=True)
    assert sdk_assembled(chunks) == expected


def test_logprobs_pieces_are_joined():
    token = {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}
    chunks = [stream_chunk([{**delta(0, role="assistant", content="Hi"),
                             "logprobs": {"content": [token], "refusal": None}}]),
              stream_chunk([{**delta(0, content="Hi"),
                             "logprobs": {"content": [token], "refusal": None}}]),
              stream_chunk([delta(0, "stop")])]
    assembled = chunks_to_completion(chunks)
    assert assembled["choices"][0]["logprobs"] == {"content": [token, token], "refusal": None}
    replayed = chunks_to_completion(completion_to_chunks(assembled))
    assert replayed == assembled
    ChatCompletion.model_validate(assembled)


def test_recording_keeps_what_passes_and_closes_the_source():
    closed = []

    def source():
        try:
            yield from ({"n": i} for i in range(5))
        finally:
            closed.append(True)

    seen: list[dict] = []
    relayed = teed_into(source(), seen)
    assert [next(relayed), next(relayed)] == [{"n": 0}, {"n": 1}]
    relayed.close()
    assert seen == [{"n": 0}, {"n": 1}] and closed == [True]


# --- backends -------------------------------------------------------------------------

ENTRY = CacheEntry(ANSWERS["text"], "openai", Decimal("0.00012345"))


def test_memory_cache_expires_entries_after_the_ttl():
    clock = Clock()
    cache = MemoryCache(max_bytes=1_000_000, ttl_seconds=60, clock=clock)
    cache.put("k", ENTRY)
    clock.now += 59.9
    assert cache.get("k") == ENTRY
    clock.now += 0.1
    assert cache.get("k") is None
    assert cache.used_bytes == 0


def test_memory_cache_evicts_least_recently_used_by_bytes():
    size = len("a") + len(ENTRY.dumps())
    cache = MemoryCache(max_bytes=2 * size, ttl_seconds=60, clock=Clock())
    cache.put("a", ENTRY)
    cache.put("b", ENTRY)
    assert cache.get("a") == ENTRY  # now "b" is the least recently used
    cache.put("c", ENTRY)
    assert cache.get("b") is None
    assert cache.get("a") == ENTRY and cache.get("c") == ENTRY
    assert cache.used_bytes == 2 * size
    cache.put("a", ENTRY)  # replacing an entry does not count it twice
    assert cache.used_bytes == 2 * size


def test_memory_cache_skips_an_entry_larger_than_the_bound():
    cache = MemoryCache(max_bytes=len(ENTRY.dumps()) - 1, ttl_seconds=60, clock=Clock())
    cache.put("k", ENTRY)
    assert cache.get("k") is None and cache.used_bytes == 0


def test_memory_cache_stays_within_its_bound_under_concurrent_use():
    size = len("key-000") + len(ENTRY.dumps())
    cache = MemoryCache(max_bytes=10 * size, ttl_seconds=60, clock=Clock())

    def work(worker: int):
        for i in range(200):
            cache.put(f"key-{(worker * 7 + i) % 40:03d}", ENTRY)
            cache.get(f"key-{i % 40:03d}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.used_bytes == 10 * size


@pytest.fixture
def redis_prefix(redis_tag):
    return f"{redis_tag}:cache:"


@pytest.fixture(params=["memory", "redis"])
def backend(request):
    if request.param == "memory":
        return MemoryCache(max_bytes=1_000_000, ttl_seconds=60)
    return RedisCache(request.getfixturevalue("redis_client"),
                      request.getfixturevalue("redis_prefix"), ttl_seconds=60)


def test_backend_keeps_an_entry_exactly(backend):
    assert backend.get("usr_1:abc") is None
    backend.put("usr_1:abc", ENTRY)
    found = backend.get("usr_1:abc")
    assert found == ENTRY and isinstance(found.cost_eur, Decimal)
    assert str(found.cost_eur) == "0.00012345"


def test_response_cache_hits_only_cacheable_requests_of_the_same_account(backend):
    cache = ResponseCache(backend)
    answer = {**ANSWERS["text"], "aqta": {"cost_eur": "0.00012345", "cached": False}}
    cache.store(cache.key_for("usr_1", BODY, {}), answer, "openai", Decimal("0.00012345"))
    hit = cache.lookup(cache.key_for("usr_1", {**BODY, "stream": True}, {}))
    assert hit.completion == ANSWERS["text"]  # stored without the aqta block
    assert hit.provider == "openai" and hit.saved_eur == Decimal("0.00012345")
    assert chunks_to_completion(hit.chunks()) == ANSWERS["text"]
    assert cache.lookup(cache.key_for("usr_2", BODY, {})) is None
    assert cache.lookup(cache.key_for("usr_1", BODY, {"Cache-Control": "no-cache"})) is None


def test_response_cache_does_not_store_what_it_must_not(backend):
    cache = ResponseCache(backend)
    sampled = {**BODY, "temperature": 0.8}
    cache.store(cache.key_for("usr_1", sampled, {}), ANSWERS["text"], "openai", Decimal("0.1"))
    cache.store(cache.key_for("usr_1", BODY, {"Cache-Control": "no-store"}), ANSWERS["text"], "openai",
                Decimal("0.1"))
    assert cache.lookup(cache.key_for("usr_1", sampled, {"X-Aqta-Cache": "on"})) is None
    assert cache.lookup(cache.key_for("usr_1", BODY, {})) is None


def test_redis_cache_sets_the_ttl(redis_client, redis_prefix):
    cache = RedisCache(redis_client, redis_prefix, ttl_seconds=120)
    cache.put("usr_1:abc", ENTRY)
    assert 0 < redis_client.ttl(redis_prefix + "usr_1:abc") <= 120


def test_redis_cache_treats_an_unreadable_entry_as_a_miss(redis_client, redis_prefix, caplog):
    redis_client.set(redis_prefix + "usr_1:abc", b"not json", ex=60)
    with caplog.at_level(logging.WARNING, logger="app.gateway.cache.store"):
        assert RedisCache(redis_client, redis_prefix).get("usr_1:abc") is None
    assert "unreadable entry" in caplog.text


def test_redis_cache_fails_open_when_redis_is_unreachable(caplog):
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    cache = ResponseCache(RedisCache(client, "aqta:test:"))
    with caplog.at_level(logging.WARNING, logger="app.gateway.cache.store"):
        cache.store(cache.key_for("usr_1", BODY, {}), ANSWERS["text"], "openai", Decimal("0.1"))
        assert cache.lookup(cache.key_for("usr_1", BODY, {})) is None
    assert "store failed" in caplog.text and "lookup failed" in caplog.text


# --- wiring ---------------------------------------------------------------------------

@pytest.mark.parametrize("changes, with_redis, kind", [
    ({}, False, MemoryCache),
    ({"cache_ttl_seconds": 30, "cache_max_bytes": 1024}, False, MemoryCache),
    ({}, True, RedisCache),
    ({"cache_ttl_seconds": 0}, True, NullCache),
])
def test_init_app_picks_the_backend(changes, with_redis, kind):
    app = Flask(__name__)
    app.config["AQTA_SETTINGS"] = Settings(**changes)
    # A client connects on first use, so no Redis server is needed here.
    app.extensions["aqta.redis"] = redis.Redis() if with_redis else None
    init_app(app)
    assert type(app.extensions["aqta.cache"].backend) is kind
