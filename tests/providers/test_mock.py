"""MockProvider: deterministic, configurable, and shaped exactly like OpenAI."""
from __future__ import annotations

import json
import time

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from providers import build_provider
from providers.base import ChatRequest, ProviderSettings, Usage
from providers.errors import UnsupportedRequest
from providers.mock import (
    MockProvider,
    MockSettings,
    answer_words,
    count_prompt_tokens,
    forced_tool,
    word_limit,
)
from providers.openai_format import message_text

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is Aqta?"}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
         {"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}]


def chat_request(model: str = "mock-fast", **body) -> ChatRequest:
    return ChatRequest(model=model, body={"model": model, "messages": MESSAGES, **body})


def mock(**extra) -> MockProvider:
    return MockProvider(ProviderSettings(extra=extra))


def streamed(provider: MockProvider, request: ChatRequest) -> tuple[list[dict], ChatCompletion]:
    """The raw chunks, and the completion the openai SDK assembles from them."""
    chunks = list(provider.stream(request))
    state = ChatCompletionStreamState(input_tools=request.body.get("tools") or [])
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    return chunks, state.get_final_completion()


# -- pure parts -------------------------------------------------------------------------
@pytest.mark.parametrize("content, text", [
    ("plain words", "plain words"),
    ([{"type": "text", "text": "a b"}, {"type": "image_url", "image_url": {"url": "x"}},
      {"type": "text", "text": "c"}], "a b c"),
    (None, ""),
])
def test_message_text(content, text):
    assert message_text(content) == text


@pytest.mark.parametrize("body, tokens", [
    ({"messages": MESSAGES}, 5),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "one two"}]},
                   {"role": "assistant", "content": None, "tool_calls": []}]}, 2),
    ({"messages": []}, 0),
])
def test_count_prompt_tokens(body, tokens):
    assert count_prompt_tokens(body) == tokens


@pytest.mark.parametrize("body, default, expected", [
    ({}, 20, (20, False)),
    ({"max_tokens": 5}, 20, (5, True)),
    ({"max_completion_tokens": 7, "max_tokens": 9}, 20, (7, True)),
    ({"max_tokens": 50}, 20, (20, False)),
    ({"max_tokens": None}, 20, (20, False)),
])
def test_word_limit(body, default, expected):
    assert word_limit(body, default) == expected


@pytest.mark.parametrize("body, name", [
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "book"}}}, "book"),
    ({"tools": TOOLS, "tool_choice": "required"}, "lookup"),
    ({"tools": TOOLS, "tool_choice": "auto"}, None),
    ({"tools": TOOLS}, None),
    ({}, None),
])
def test_forced_tool(body, name):
    assert forced_tool(body) == name


def test_answer_words_are_deterministic_and_sized():
    assert answer_words("hello", 30) == answer_words("hello", 30)
    assert answer_words("hello", 30) != answer_words("goodbye", 30)
    assert answer_words("hello", 30)[:10] == answer_words("hello", 10)
    assert len(answer_words("hello", 100)) == 100
    assert answer_words("hello", 0) == []


@pytest.mark.parametrize("extra, settings", [
    ({}, MockSettings()),
    ({"response_words": "5", "chunk_count": 2, "latency_ms": 10, "chunk_delay_ms": "3"},
     MockSettings(5, 2, 10, 3)),
])
def test_settings_from_extra(extra, settings):
    assert MockSettings.from_extra(extra) == settings


@pytest.mark.parametrize("extra, message", [
    ({"response_words": "many"}, "'response_words' must be a whole number"),
    ({"chunk_count": 0}, "'chunk_count' must be at least 1"),
    ({"latency_ms": -1}, "'latency_ms' must be at least 0"),
])
def test_settings_reject_bad_values(extra, message):
    with pytest.raises(ValueError, match=message):
        MockSettings.from_extra(extra)


# -- chat ------------------------------------------------------------------------------
def test_built_by_name():
    assert isinstance(build_provider("mock", ProviderSettings()), MockProvider)


def test_chat_answer_is_deterministic_and_openai_shaped():
    first = mock().chat(chat_request())
    again = mock().chat(chat_request())
    other = mock().chat(chat_request(messages=[{"role": "user", "content": "Something else"}]))
    ChatCompletion.model_validate(first.body)
    content = first.body["choices"][0]["message"]["content"]
    assert content == again.body["choices"][0]["message"]["content"]
    assert content != other.body["choices"][0]["message"]["content"]
    assert first.body["id"] == again.body["id"]
    assert len(content.split()) == 20
    assert first.body["choices"][0]["finish_reason"] == "stop"
    assert first.usage == Usage(prompt_tokens=5, completion_tokens=20)
    assert first.body["usage"] == first.usage.as_openai()
    assert first.body["model"] == "mock-fast"


def test_chat_length_from_settings_and_max_tokens():
    assert mock(response_words=3).chat(chat_request()).usage.completion_tokens == 3
    capped = mock(response_words=30).chat(chat_request(max_tokens=4))
    assert len(capped.body["choices"][0]["message"]["content"].split()) == 4
    assert capped.body["choices"][0]["finish_reason"] == "length"


def test_chat_n_choices():
    response = mock(response_words=6).chat(chat_request(n=3))
    contents = [c["message"]["content"] for c in response.body["choices"]]
    assert [c["index"] for c in response.body["choices"]] == [0, 1, 2]
    assert len(set(contents)) == 3
    assert response.usage.completion_tokens == 18


def test_chat_forced_tool_call():
    choice = {"type": "function", "function": {"name": "book"}}
    response = mock().chat(chat_request(tools=TOOLS, tool_choice=choice))
    ChatCompletion.model_validate(response.body)
    message = response.body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["function"] == {"name": "book", "arguments": "{}"}
    assert message["tool_calls"][0]["id"].startswith("call_")
    assert response.body["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("request_, field", [
    (chat_request(model="gpt-4o"), "model"),
    (chat_request(n=0), "n"),
    (chat_request(n="two"), "n"),
    (chat_request(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}),
     "tool_choice"),
])
def test_invalid_requests(request_, field):
    for call in (mock().chat, lambda r: next(mock().stream(r))):
        with pytest.raises(UnsupportedRequest) as caught:
            call(request_)
        assert (caught.value.status, caught.value.field) == (400, field)


# -- stream ----------------------------------------------------------------------------
def test_stream_matches_openai_and_the_chat_answer():
    provider = mock(response_words=12)
    chunks, final = streamed(provider, chat_request(stream=True))
    answer = provider.chat(chat_request())
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "",
                                                "refusal": None}
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) == 12
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == answer.body["usage"]
    assert final.choices[0].message.content == answer.body["choices"][0]["message"]["content"]
    assert len({c["id"] for c in chunks}) == 1


def test_stream_chunk_count():
    chunks, final = streamed(mock(response_words=10, chunk_count=3), chat_request())
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks
              if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(pieces) == 3
    assert len(final.choices[0].message.content.split()) == 10


def test_stream_forced_tool_call_assembles_in_the_sdk():
    choice = {"type": "function", "function": {"name": "lookup"}}
    _chunks, final = streamed(mock(), chat_request(tools=TOOLS, tool_choice=choice))
    call = final.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {})
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage.completion_tokens > 0


def test_stream_n_choices():
    _chunks, final = streamed(mock(response_words=4), chat_request(n=2))
    assert [len(c.message.content.split()) for c in final.choices] == [4, 4]
    assert final.usage.completion_tokens == 8


def test_latency_is_applied():
    provider = mock(response_words=3, latency_ms=40, chunk_delay_ms=10)
    started = time.monotonic()
    provider.chat(chat_request())
    assert time.monotonic() - started >= 0.04
    started = time.monotonic()
    chunks = list(provider.stream(chat_request()))
    assert time.monotonic() - started >= 0.04 + 0.01 * (len(chunks) - 1)
