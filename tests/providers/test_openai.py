"""OpenAIProvider: translation on recorded payloads, end to end against FakeOpenAI, errors."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import urllib3

from providers.base import ChatRequest, ProviderSettings, Usage
from providers.errors import ProviderError, ProviderTimeout
from providers.openai import (
    OpenAIProvider,
    StreamState,
    closing_usage_chunk,
    from_upstream_response,
    normalize_chunk,
    parse_stream_data,
    to_upstream_request,
    usage_from,
)
from tests.fakes.scripted import refused_url
from tests.fakes.server import Reply
from tests.support.recorded import load_events, load_json

MESSAGES = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


def chat_request(**body) -> ChatRequest:
    return ChatRequest(model="gpt-4o-2024-08-06",
                       body={"model": "gpt-4o", "messages": MESSAGES, **body})


def relayed(events: list) -> Iterator[dict]:
    """What the provider makes of recorded upstream events."""
    provider = OpenAIProvider(ProviderSettings())
    return provider.relay(iter(events), provider.stream_translator(chat_request(stream=True)))


def provider_for(fake, **settings) -> OpenAIProvider:
    return OpenAIProvider(ProviderSettings(base_url=fake.url + "/v1", api_key="sk-up", **settings))


def text_of(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# -- (a) pure translation -----------------------------------------------------------------
@pytest.mark.parametrize("body, stream, include_usage, expected", [
    ({"model": "gpt-4o", "messages": MESSAGES, "temperature": 0.2}, False, True,
     {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "temperature": 0.2}),
    ({"model": "gpt-4o", "messages": MESSAGES, "stream": False,
      "stream_options": {"include_usage": True}}, False, True,
     {"model": "gpt-4o-2024-08-06", "messages": MESSAGES}),
    ({"model": "gpt-4o", "messages": MESSAGES}, True, True,
     {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "stream": True,
      "stream_options": {"include_usage": True}}),
    ({"model": "gpt-4o", "messages": MESSAGES, "stream": True,
      "stream_options": {"include_usage": False, "include_obfuscation": False}}, True, True,
     {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "stream": True,
      "stream_options": {"include_usage": True, "include_obfuscation": False}}),
    ({"model": "gpt-4o", "messages": MESSAGES}, True, False,
     {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "stream": True}),
    ({"model": "gpt-4o", "messages": MESSAGES, "metadata": {"decision_type": "dosing"}}, False, True,
     {"model": "gpt-4o-2024-08-06", "messages": MESSAGES}),
    ({"model": "gpt-4o", "messages": MESSAGES, "store": True, "metadata": {"team": "ward-7"}}, False, True,
     {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "store": True, "metadata": {"team": "ward-7"}}),
])
def test_to_upstream_request(body, stream, include_usage, expected):
    original = json.loads(json.dumps(body))
    request = ChatRequest(model="gpt-4o-2024-08-06", body=body)
    assert to_upstream_request(request, stream=stream, include_usage=include_usage) == expected
    assert body == original  # the client's body is not changed


@pytest.mark.parametrize("usage, expected", [
    ({"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}, Usage(19, 10)),
    ({"prompt_tokens": 5}, Usage(5, 0)),
    ({"prompt_tokens": None, "completion_tokens": None}, Usage(0, 0)),
    (None, Usage(0, 0)),
])
def test_usage_from(usage, expected):
    assert usage_from(usage) == expected


@pytest.mark.parametrize("payload, usage, content, tool", [
    ("openai_chat_response.json", Usage(19, 10), "Hello! How can I assist you today?", None),
    ("openai_tool_call_response.json", Usage(82, 17), None, "get_current_weather"),
])
def test_from_upstream_response_on_recorded_answers(payload, usage, content, tool):
    body = load_json(payload)
    response = from_upstream_response(body, "openai")
    assert response.usage == usage
    assert response.body == load_json(payload)  # kept whole, extras included
    message = response.body["choices"][0]["message"]
    assert message["content"] == content
    assert (message.get("tool_calls") or [{"function": {"name": None}}])[0]["function"]["name"] == tool


@pytest.mark.parametrize("body, message", [
    ([1, 2], "expected a JSON object, got list"),
    ({"id": "x", "object": "chat.completion"}, "answer has no 'choices' list"),
    ({"error": {"message": "overloaded", "type": "server_error"}}, "overloaded"),
])
def test_from_upstream_response_rejects_malformed_answers(body, message):
    with pytest.raises(ProviderError) as caught:
        from_upstream_response(body, "openai")
    assert (caught.value.status, caught.value.code) == (502, "provider_error")
    assert caught.value.upstream_message == message


@pytest.mark.parametrize("data, expected", [
    ("[DONE]", None),
    (" [DONE] ", None),
    ('{"id": "c", "choices": []}', {"id": "c", "choices": []}),
])
def test_parse_stream_data(data, expected):
    assert parse_stream_data(data, "openai") == expected


@pytest.mark.parametrize("data, message", [
    ('{"error": {"message": "The server had an error", "type": "server_error"}}',
     "The server had an error"),
    ('{"error": "quota gone"}', "quota gone"),
    ("not json", "unreadable stream event: 'not json'"),
    ("[1, 2]", "unexpected stream event: '[1, 2]'"),
])
def test_parse_stream_data_errors(data, message):
    with pytest.raises(ProviderError) as caught:
        parse_stream_data(data, "openai")
    assert caught.value.upstream_message == message


def test_normalize_chunk_holds_back_usage_from_content_chunks():
    state = StreamState()
    chunk = normalize_chunk({"id": "a", "created": 1, "model": "m", "object": "chat.completion",
                             "usage": {"prompt_tokens": 2, "completion_tokens": 1},
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"content": "hi"},
                                          "delta": {"content": "hi"}}]}, state)
    assert chunk == {"id": "a", "created": 1, "model": "m", "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "delta": {"content": "hi"}}]}
    assert state.finished
    assert closing_usage_chunk(state) == {
        "id": "a", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}


def test_normalize_chunk_passes_openai_usage_chunk_through():
    state = StreamState()
    usage_chunk = {"id": "a", "choices": [], "usage": {"prompt_tokens": 2}}
    assert normalize_chunk(dict(usage_chunk), state)["usage"] == {"prompt_tokens": 2}
    assert closing_usage_chunk(state) is None


@pytest.mark.parametrize("payload, text, arguments, usage", [
    ("openai_stream_text.sse", "Hello!", "", {"prompt_tokens": 9, "completion_tokens": 2}),
    ("openai_stream_tool_call.sse", "", '{"location":"Paris, France"}',
     {"prompt_tokens": 66, "completion_tokens": 17}),
])
def test_relay_of_recorded_streams(payload, text, arguments, usage):
    chunks = list(relayed(load_events(payload)))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert text_of(chunks) == text
    assert "".join(call["function"]["arguments"]
                   for c in chunks if c["choices"]
                   for call in c["choices"][0]["delta"].get("tool_calls") or []) == arguments
    assert chunks[-1]["choices"] == []
    assert {k: chunks[-1]["usage"][k] for k in usage} == usage
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_relay_raises_on_an_error_event_after_the_chunks_before_it():
    relay = relayed(load_events("openai_stream_error.sse"))
    assert [next(relay)["choices"][0]["delta"].get("content") for _ in range(2)] == ["", "The"]
    with pytest.raises(ProviderError) as caught:
        next(relay)
    assert caught.value.upstream_message.startswith("The server had an error")


def test_relay_raises_when_the_stream_ends_unfinished():
    events = load_events("openai_stream_text.sse")[:3]  # no finish_reason, no [DONE]
    with pytest.raises(ProviderError) as caught:
        list(relayed(events))
    assert caught.value.upstream_message == "stream ended before it finished"


# -- (b) end to end against the fake ---------------------------------------------------------
def test_chat_end_to_end(openai_fake):
    openai_fake.answer(text="Hello, Aqta.", prompt_tokens=4, completion_tokens=3)
    response = provider_for(openai_fake).chat(chat_request(stream_options={"include_usage": True}))
    assert response.body["choices"][0]["message"]["content"] == "Hello, Aqta."
    assert response.usage == Usage(4, 3)
    sent = openai_fake.received[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-up"
    assert sent.body == {"model": "gpt-4o-2024-08-06", "messages": MESSAGES}


def test_chat_with_a_forced_tool(openai_fake):
    forced = {"type": "function", "function": {"name": "get_weather"}}
    response = provider_for(openai_fake).chat(chat_request(tools=[WEATHER_TOOL],
                                                           tool_choice=forced))
    choice = response.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "city": "Dublin"}


def test_stream_end_to_end_always_asks_for_usage(openai_fake):
    openai_fake.answer(text="One two three", prompt_tokens=6, completion_tokens=3)
    chunks = list(provider_for(openai_fake).stream(chat_request(stream=True)))
    assert openai_fake.received[-1].body["stream_options"] == {"include_usage": True}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert text_of(chunks) == "One two three"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert usage_from(chunks[-1]["usage"]) == Usage(6, 3)
    assert openai_fake.completed_streams == 1


def test_stream_tool_call_deltas(openai_fake):
    openai_fake.answer(tool_name="get_weather", tool_arguments={"city": "Galway", "days": 3})
    chunks = list(provider_for(openai_fake).stream(chat_request(tools=[WEATHER_TOOL])))
    calls = [call for c in chunks if c["choices"]
             for call in c["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["function"]["name"] == "get_weather"
    assert len(calls) > 2  # the arguments arrived in pieces
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {
        "city": "Galway", "days": 3}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"


# -- (c) error paths ---------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_upstream_http_errors_become_provider_errors(openai_fake, status):
    openai_fake.fail_next(status=status)
    with pytest.raises(ProviderError) as caught:
        provider_for(openai_fake).chat(chat_request())
    error = caught.value
    assert (error.status, error.code) == (502, "provider_error")
    assert (error.upstream_status, error.upstream_message) == (status, f"injected failure {status}")
    assert error.provider == "openai"


def test_upstream_http_error_on_a_stream(openai_fake):
    openai_fake.fail_next(status=429)
    with pytest.raises(ProviderError) as caught:
        next(provider_for(openai_fake).stream(chat_request()))
    assert caught.value.upstream_status == 429


def test_connection_refused_is_a_provider_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    provider = OpenAIProvider(ProviderSettings(base_url=f"http://127.0.0.1:{port}/v1",
                                               api_key="k", connect_timeout=1))
    with pytest.raises(ProviderError) as caught:
        provider.chat(chat_request())
    assert caught.value.upstream_status is None
    assert caught.value.upstream_message


def test_a_hanging_upstream_times_out(openai_fake):
    openai_fake.fail_next(hang=0.5)
    with pytest.raises(ProviderTimeout) as caught:
        provider_for(openai_fake, read_timeout=0.1).chat(chat_request())
    assert (caught.value.status, caught.value.code) == (504, "provider_timeout")


def test_a_stream_that_stalls_times_out_from_the_generator(openai_fake):
    openai_fake.chunk_delay = 1.0
    stream = provider_for(openai_fake, read_timeout=0.2).stream(chat_request())
    assert next(stream)["choices"][0]["delta"]["role"] == "assistant"
    with pytest.raises(ProviderTimeout):
        list(stream)


def test_a_broken_stream_raises_after_some_chunks(openai_fake):
    openai_fake.fail_next(break_after=2)
    stream = provider_for(openai_fake).stream(chat_request())
    assert len([next(stream), next(stream)]) == 2
    with pytest.raises(ProviderError) as caught:
        next(stream)
    assert "stream broke" in caught.value.upstream_message


def test_an_error_event_mid_stream_raises(openai_fake):
    openai_fake.error_mid_stream(after=3)
    stream = provider_for(openai_fake).stream(chat_request())
    assert len([next(stream) for _ in range(3)]) == 3
    with pytest.raises(ProviderError) as caught:
        next(stream)
    assert caught.value.upstream_message.startswith("The server had an error")


@pytest.mark.parametrize("reply, status, message", [
    (Reply(b"<html>oops</html>", headers={"Content-Type": "text/html"}), 200, "unreadable body"),
    (Reply({"object": "chat.completion"}), 200, "answer has no 'choices' list"),
    (Reply(b"<html>Bad gateway</html>", 502, {"Content-Type": "text/html"}), 502,
     "<html>Bad gateway</html>"),
    (Reply({"error": {"message": "Rate limit reached"}}, 429), 429, "Rate limit reached"),
])
def test_unusable_answers_are_provider_errors(scripted, reply, status, message):
    scripted.answer_next(reply)
    with pytest.raises(ProviderError) as caught:
        provider_for(scripted).chat(chat_request())
    assert caught.value.upstream_status == status
    assert caught.value.upstream_message.startswith(message)
    assert scripted.received[0].headers["authorization"] == "Bearer sk-up"


@pytest.mark.parametrize("failure, error", [
    ("connect timeout", ProviderTimeout),
    ("read timeout", ProviderTimeout),
    ("refused", ProviderError),
    ("dropped", ProviderError),
])
@pytest.mark.parametrize("streaming", [False, True])
def test_transport_failures(scripted, silent, failure, error, streaming):
    url = {"connect timeout": silent, "refused": refused_url()}.get(failure, scripted.url)
    if failure == "read timeout":
        scripted.fail_next(hang=1.0)
    if failure == "dropped":
        scripted.fail_next(drop=True)
    provider = OpenAIProvider(ProviderSettings(base_url=url + "/v1", api_key="k",
                                               connect_timeout=0.2, read_timeout=0.2))
    with pytest.raises(error) as caught:
        if streaming:
            next(provider.stream(chat_request()))
        else:
            provider.chat(chat_request())
    assert type(caught.value) is error
    if error is ProviderError:
        assert caught.value.upstream_status is None and caught.value.upstream_message


def test_chunks_are_relayed_as_they_arrive(openai_fake):
    openai_fake.answer(text="one two three four")
    openai_fake.chunk_delay = 0.1  # seconds
    stream = provider_for(openai_fake).stream(chat_request())
    assert next(stream)["choices"][0]["delta"]["role"] == "assistant"
    assert openai_fake.completed_streams == 0  # the rest is still on its way
    assert text_of(list(stream)) == "one two three four"
    assert openai_fake.completed_streams == 1


# -- (d) closing early -------------------------------------------------------------------
class RecordingPool(urllib3.PoolManager):
    """A pool manager that keeps the responses it returned, to look at them afterwards."""

    def __init__(self):
        super().__init__()
        self.responses: list[urllib3.BaseHTTPResponse] = []

    def urlopen(self, method, url, redirect=True, **kw):
        response = super().urlopen(method, url, redirect=redirect, **kw)
        self.responses.append(response)
        return response


def test_closing_the_stream_early_closes_the_upstream_response(openai_fake):
    openai_fake.answer(text=" ".join(["word"] * 40))
    openai_fake.chunk_delay = 0.05  # the whole stream would take two seconds
    pool = RecordingPool()
    provider = OpenAIProvider(ProviderSettings(base_url=openai_fake.url + "/v1", api_key="k"),
                              pool=pool)
    stream = provider.stream(chat_request())
    next(stream)
    next(stream)
    stream.close()
    assert pool.responses[0].closed
    deadline = time.monotonic() + 5
    while not openai_fake.aborted_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (openai_fake.aborted_streams, openai_fake.completed_streams) == (1, 0)


def test_finished_streams_give_their_connection_back_to_the_pool(openai_fake):
    provider = provider_for(openai_fake)
    for _ in range(3):
        list(provider.stream(chat_request()))
        provider.chat(chat_request())
    assert len(openai_fake.received) == 6
    assert len({request.client_address for request in openai_fake.received}) == 1


def test_after_a_stream_closed_early_the_next_call_reads_a_clean_answer(openai_fake):
    openai_fake.answer(text=" ".join(["word"] * 40))
    openai_fake.chunk_delay = 0.01  # the rest of the first stream is still being written
    provider = provider_for(openai_fake)
    stream = provider.stream(chat_request())
    next(stream)
    stream.close()
    assert text_of(list(provider.stream(chat_request()))) == " ".join(["word"] * 40)
    assert provider.chat(chat_request()).body["choices"][0]["message"]["content"].startswith("word")
