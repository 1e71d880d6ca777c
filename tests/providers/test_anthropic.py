"""AnthropicProvider: pure translation on recorded payloads, then end to end against the fake."""
from __future__ import annotations

import json
import socket
import time

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from app.errors import api_error
from providers.anthropic import AnthropicProvider, StreamTranslator
from providers.anthropic_format import from_anthropic, to_anthropic, translate_messages
from providers.base import ChatRequest, ProviderSettings
from providers.errors import ProviderError, ProviderTimeout, UnsupportedRequest
from tests.fakes.anthropic_upstream import DEFAULT_TEXT
from tests.fakes.server import Reply, StreamReply
from tests.support.recorded import load_events, load_json

MODEL = "claude-sonnet-4-5-20250929"
CREATED = 1_750_000_000
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.fixture
def provider(anthropic_fake):
    return AnthropicProvider(ProviderSettings(base_url=anthropic_fake.url, api_key="k"))


def chat_request(messages=None, **params) -> ChatRequest:
    messages = messages or [{"role": "user", "content": "Hello?"}]
    return ChatRequest(MODEL, {"model": "claude-sonnet", "messages": messages, **params})


def assemble(chunks: list[dict]):
    """What the official OpenAI SDK makes of our chunks: proves they are valid chunks too."""
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    return state.get_final_completion()


def translate_stream(name: str, *, json_mode: bool = False) -> list[dict]:
    translator = StreamTranslator(json_mode=json_mode, created=CREATED)
    chunks = [chunk for event, data in load_events(name) for chunk in translator.feed(event, data)]
    translator.finish()
    return chunks


# -- (a) pure translation -------------------------------------------------------------

@pytest.mark.parametrize("case", load_json("anthropic_requests.json"), ids=lambda case: case["id"])
def test_request_translation(case):
    assert to_anthropic(ChatRequest(MODEL, case["openai"])) == case["anthropic"]


def test_stream_flag_is_set_only_for_streams():
    assert to_anthropic(chat_request(stream=True), stream=True)["stream"] is True
    assert "stream" not in to_anthropic(chat_request(stream=True))


@pytest.mark.parametrize("choice, parallel, expected", [
    ("auto", None, {"type": "auto"}),
    ("none", False, {"type": "none"}),
    ("required", None, {"type": "any"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    (None, None, None),
    ({"type": "function", "function": {"name": "get_weather"}}, True,
     {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice_translation(choice, parallel, expected):
    params = {"tools": [WEATHER_TOOL], "tool_choice": choice, "parallel_tool_calls": parallel}
    payload = to_anthropic(chat_request(**{k: v for k, v in params.items() if v is not None}))

    assert payload.get("tool_choice") == expected


def test_tool_choice_without_tools_is_dropped():
    assert "tool_choice" not in to_anthropic(chat_request(tool_choice="required"))


USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize("messages, params, field", [
    (None, {"n": 2}, "n"),
    (None, {"logprobs": True, "top_logprobs": 2}, "logprobs"),
    (None, {"modalities": ["text", "audio"]}, "modalities"),
    (None, {"temperature": 1.5}, "temperature"),
    ([{"role": "system", "content": "only rules"}], {}, "messages"),
    ([USER, {"role": "function", "name": "f", "content": "x"}], {}, "messages[1].role"),
    ([{"role": "user", "content": [{"type": "text", "text": "hear this"},
                                   {"type": "input_audio", "input_audio": {}}]}], {},
     "messages[0].content[1].type"),
    ([{"role": "user", "content": [{"type": "image_url",
                                    "image_url": {"url": "data:image/bmp;base64,Qk0="}}]}], {},
     "messages[0].content[0].image_url"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": "ftp://x/y.png"}]}], {},
     "messages[0].content[0].image_url"),
    ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}], {},
     "messages[0].content[0].file"),
    ([{"role": "system", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]},
      USER], {}, "messages[0].content[0].type"),
    ([USER, {"role": "assistant", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1, 2"}}]}],
     {}, "messages[1].tool_calls[0].function.arguments"),
    ([USER, {"role": "tool", "content": "42"}], {}, "messages[1].tool_call_id"),
    (None, {"tools": [{"type": "custom", "custom": {"name": "grep"}}]}, "tools[0].type"),
    (None, {"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice"),
    (None, {"tools": [WEATHER_TOOL], "response_format": {"type": "json_object"}},
     "response_format"),
    (None, {"response_format": {"type": "json_schema", "json_schema": {
        "name": "list", "schema": {"type": "array"}}}}, "response_format"),
])
def test_untranslatable_requests_are_a_400_naming_the_field(messages, params, field):
    with pytest.raises(UnsupportedRequest) as caught:
        to_anthropic(chat_request(messages, **params))

    assert caught.value.status == 400 and caught.value.field == field
    assert api_error(caught.value).body()["error"]["param"] == field


def test_tool_results_open_their_user_turn_even_after_user_text():
    _, turns = translate_messages([
        {"role": "assistant", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "Here is the result:"},
        {"role": "tool", "tool_call_id": "t1", "content": "ok"}])

    assert [block["type"] for block in turns[1]["content"]] == ["tool_result", "text"]


@pytest.mark.parametrize("payload, json_mode, content, tool_calls, finish, usage", [
    ("anthropic_message_text.json", False, "Bonjour ! Paris is the capital of France.", [],
     "stop", (12 + 1024 + 2048, 14)),
    ("anthropic_message_tool_use.json", False, "I'll check the weather in both cities.",
     [("toolu_01A09q90qw90lq917835lq9", "get_weather",
       {"location": "San Francisco, CA", "unit": "celsius"}),
      ("toolu_01B8r2kQ3XnTvY7mW5pLz4c", "get_weather",
       {"location": "Dublin, IE", "unit": "celsius"})], "tool_calls", (472, 121)),
    ("anthropic_message_thinking_max_tokens.json", False,
     "1. Trinity College Dublin (1592)\n2. ", [], "length", (30, 64)),
    ("anthropic_message_json_tool.json", True, '{"city": "Paris", "population": 2102650}', [],
     "stop", (410, 37)),
])
def test_response_translation(payload, json_mode, content, tool_calls, finish, usage):
    message = load_json(payload)

    response = from_anthropic(message, json_mode=json_mode, created=CREATED)

    completion = ChatCompletion.model_validate(response.body)
    choice = completion.choices[0]
    assert (completion.id, completion.model, completion.created) == \
        (message["id"], message["model"], CREATED)
    assert completion.object == "chat.completion"
    assert choice.message.role == "assistant" and choice.message.content == content
    assert [(call.id, call.function.name, json.loads(call.function.arguments))
            for call in choice.message.tool_calls or []] == tool_calls
    assert choice.finish_reason == finish
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == usage
    assert response.body["usage"] == response.usage.as_openai()


def test_tool_use_named_like_the_json_tool_is_a_tool_call_outside_json_mode():
    response = from_anthropic(load_json("anthropic_message_json_tool.json"))

    assert response.body["choices"][0]["message"]["content"] is None
    assert response.body["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("body", [{"type": "error", "error": {"type": "api_error"}}, [], None])
def test_a_body_that_is_not_a_message_is_a_provider_error(body):
    with pytest.raises(ProviderError):
        from_anthropic(body)


def test_text_stream_translation():
    chunk = {"id": "msg_01ChtWqGnR1yv2DmGz6aVe4k", "object": "chat.completion.chunk",
             "created": CREATED, "model": "claude-sonnet-4-5-20250929"}

    def delta(delta, finish=None):
        return {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                      "logprobs": None}]}

    assert translate_stream("anthropic_stream_text.sse") == [
        delta({"role": "assistant", "content": ""}),
        delta({"content": "Hello"}),
        delta({"content": "! How can I help?"}),
        delta({}, "stop"),
        {**chunk, "choices": [],
         "usage": {"prompt_tokens": 25, "completion_tokens": 9, "total_tokens": 34}},
    ]


def test_tool_use_stream_translation():
    chunks = translate_stream("anthropic_stream_tool_use.sse")
    completion = assemble(chunks)

    message = completion.choices[0].message
    assert message.content == "Let me check both cities."
    assert [(call.id, call.function.name, json.loads(call.function.arguments))
            for call in message.tool_calls] == [
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather",
         {"location": "San Francisco, CA", "unit": "celsius"}),
        ("toolu_01Vb7nN2c3Pz8QwKx5RtYh9E", "get_weather", {"location": "Dublin, IE"})]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (472, 89)
    starts = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
              if c["choices"] and "id" in c["choices"][0]["delta"].get("tool_calls", [{}])[0]]
    assert starts[1] == {"index": 1, "id": "toolu_01Vb7nN2c3Pz8QwKx5RtYh9E", "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}


def test_json_mode_stream_streams_the_tool_input_as_content():
    completion = assemble(translate_stream("anthropic_stream_json_tool.sse", json_mode=True))

    assert completion.choices[0].message.content == '{"city": "Paris", "population": 2102650}'
    assert not completion.choices[0].message.tool_calls
    assert completion.choices[0].finish_reason == "stop"


def test_an_error_event_raises_after_the_chunks_before_it():
    translator = StreamTranslator(created=CREATED)
    chunks = []

    with pytest.raises(ProviderError) as caught:
        for event, data in load_events("anthropic_stream_error.sse"):
            chunks.extend(translator.feed(event, data))

    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "Once upon"}]
    assert caught.value.status == 502 and "overloaded_error: Overloaded" in \
        caught.value.upstream_message


def test_a_stream_ending_before_message_stop_is_a_provider_error():
    translator = StreamTranslator()
    for event, data in load_events("anthropic_stream_text.sse")[:5]:
        translator.feed(event, data)

    with pytest.raises(ProviderError, match="anthropic"):
        translator.finish()


@pytest.mark.parametrize("event, data", [
    ("ping", '{"type": "ping"}'),
    ("content_block_stop", '{"type": "content_block_stop", "index": 0}'),
    ("content_block_delta", json.dumps({"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "thinking_delta", "thinking": "x"}})),
    ("future_event", '{"type": "future_event", "detail": 1}'),
])
def test_events_without_openai_equivalent_yield_nothing(event, data):
    assert StreamTranslator().feed(event, data) == []


def test_unreadable_event_data_is_a_provider_error():
    with pytest.raises(ProviderError):
        StreamTranslator().feed("content_block_delta", "{not json")


# -- (b) end to end against the fake ----------------------------------------------------

def test_chat_sends_the_translated_request_with_auth_headers(provider, anthropic_fake):
    request = chat_request([{"role": "system", "content": "Be brief."},
                            {"role": "user", "content": "Hello?"}], max_tokens=50, user="u1")

    response = provider.chat(request)

    sent = anthropic_fake.received[0]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == "k"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == to_anthropic(request)
    assert sent.body["system"] == "Be brief." and sent.body["max_tokens"] == 50
    choice = response.body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": DEFAULT_TEXT}
    assert choice["finish_reason"] == "stop"
    assert response.body["model"] == MODEL
    assert response.usage.completion_tokens == len(DEFAULT_TEXT.split())


def test_chat_returns_the_forced_tool_call(provider):
    response = provider.chat(chat_request(
        tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}}))

    choice = response.body["choices"][0]
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("toolu_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "example"}
    assert choice["finish_reason"] == "tool_calls"


def test_chat_sends_tool_results_back(provider, anthropic_fake):
    anthropic_fake.answer("It is 18°C in Paris.")
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18°C"}]

    response = provider.chat(chat_request(messages, tools=[WEATHER_TOOL]))

    assert response.body["choices"][0]["message"]["content"] == "It is 18°C in Paris."
    sent = anthropic_fake.received[0].body["messages"]
    assert sent[1]["content"][0] == {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                     "input": {"city": "Paris"}}
    assert sent[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"}]}


def test_chat_in_json_mode_returns_json_content(provider):
    response = provider.chat(chat_request(response_format={"type": "json_schema", "json_schema": {
        "name": "weather", "schema": WEATHER_TOOL["function"]["parameters"]}}))

    choice = response.body["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"city": "example"}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]


def test_stream_yields_role_text_finish_and_usage(provider, anthropic_fake):
    anthropic_fake.answer("A streamed answer in several pieces.",
                          usage={"input_tokens": 11, "cache_read_input_tokens": 5})

    chunks = list(provider.stream(chat_request(stream=True)))

    sent = anthropic_fake.received[0]
    assert sent.body["stream"] is True and sent.headers["x-api-key"] == "k"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(chunks) > 4
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 16, "completion_tokens": 6, "total_tokens": 22}
    completion = assemble(chunks)
    assert completion.choices[0].message.content == "A streamed answer in several pieces."


def test_stream_yields_text_then_tool_calls(provider, anthropic_fake):
    anthropic_fake.answer("Checking.", tool_calls=[("get_weather", {"city": "Cork"}),
                                                  ("get_weather", {"city": "Galway, IE"})])

    completion = assemble(list(provider.stream(chat_request(tools=[WEATHER_TOOL]))))

    message = completion.choices[0].message
    assert message.content == "Checking."
    assert [json.loads(call.function.arguments) for call in message.tool_calls] == [
        {"city": "Cork"}, {"city": "Galway, IE"}]
    assert [call.index for call in message.tool_calls] == [0, 1]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_stream_in_json_mode_streams_json_content(provider):
    chunks = list(provider.stream(chat_request(response_format={"type": "json_object"})))

    assert json.loads(assemble(chunks).choices[0].message.content) == {}


# -- (c) errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 529])
def test_upstream_error_status_is_a_provider_error(provider, anthropic_fake, status):
    anthropic_fake.fail_next(status=status)

    with pytest.raises(ProviderError) as caught:
        provider.chat(chat_request())

    error = caught.value
    assert (error.status, error.code, error.provider) == (502, "provider_error", "anthropic")
    assert error.upstream_status == status
    assert error.upstream_message == f"injected failure {status}"


def test_upstream_error_status_fails_the_stream_before_any_chunk(provider, anthropic_fake):
    anthropic_fake.fail_next(status=529)

    with pytest.raises(ProviderError) as caught:
        next(provider.stream(chat_request()))

    assert caught.value.upstream_status == 529


def test_a_request_the_real_api_refuses_is_a_provider_error(provider):
    with pytest.raises(ProviderError) as caught:
        provider.chat(chat_request([{"role": "assistant", "content": "I start"}, USER,
                                    {"role": "assistant", "tool_calls": [
                                        {"id": "t9", "type": "function",
                                         "function": {"name": "f", "arguments": "{}"}}]}]))

    assert caught.value.upstream_status == 400 and "tool_result" in caught.value.upstream_message


def test_an_untranslatable_stream_fails_at_the_call_without_calling_upstream(
        provider, anthropic_fake):
    with pytest.raises(UnsupportedRequest):
        provider.stream(chat_request(n=3))

    assert anthropic_fake.received == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection_is_a_provider_error():
    provider = AnthropicProvider(ProviderSettings(base_url=f"http://127.0.0.1:{closed_port()}",
                                                  api_key="k"))

    with pytest.raises(ProviderError) as caught:
        provider.chat(chat_request())
    with pytest.raises(ProviderError):
        next(provider.stream(chat_request()))

    assert caught.value.upstream_status is None and caught.value.upstream_message


@pytest.mark.parametrize("streaming", [False, True])
def test_a_hang_beyond_read_timeout_is_a_provider_timeout(anthropic_fake, streaming):
    provider = AnthropicProvider(ProviderSettings(base_url=anthropic_fake.url, api_key="k",
                                                  read_timeout=0.2))
    anthropic_fake.fail_next(hang=1.0)

    with pytest.raises(ProviderTimeout) as caught:
        if streaming:
            list(provider.stream(chat_request()))
        else:
            provider.chat(chat_request())

    assert (caught.value.status, caught.value.code) == (504, "provider_timeout")


def test_a_stream_broken_midway_raises_from_the_generator(provider, anthropic_fake):
    anthropic_fake.fail_next(break_after=2)
    stream = provider.stream(chat_request())

    first = next(stream)
    with pytest.raises(ProviderError) as caught:
        list(stream)

    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert caught.value.status == 502


def test_an_error_event_in_the_stream_is_a_provider_error(provider, anthropic_fake):
    anthropic_fake.answer(stream_error=("overloaded_error", "Overloaded"))

    with pytest.raises(ProviderError) as caught:
        list(provider.stream(chat_request()))

    assert "overloaded_error" in caught.value.upstream_message


@pytest.fixture
def scripted_provider(scripted):
    """A provider in front of a ScriptedUpstream: each test writes the upstream's answer."""
    return AnthropicProvider(ProviderSettings(base_url=scripted.url, api_key="k"))


def test_overloaded_body_keeps_anthropics_message(scripted, scripted_provider):
    scripted.answer_next(Reply({"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}, 529))

    with pytest.raises(ProviderError) as caught:
        scripted_provider.chat(chat_request())

    assert (caught.value.upstream_status, caught.value.upstream_message) == (529, "Overloaded")
    assert scripted.received[0].headers["x-api-key"] == "k"


@pytest.mark.parametrize("reply", [
    Reply(b"<html>bad gateway</html>", headers={"Content-Type": "text/html"}),
    Reply({"ok": True}),
])
def test_unreadable_200_is_a_provider_error(scripted, scripted_provider, reply):
    scripted.answer_next(reply)

    with pytest.raises(ProviderError) as caught:
        scripted_provider.chat(chat_request())

    assert caught.value.provider == "anthropic"


def test_stream_cut_before_message_stop_is_a_provider_error(scripted, scripted_provider):
    scripted.answer_next(StreamReply(load_events("anthropic_stream_text.sse")[:4]))
    stream = scripted_provider.stream(chat_request())

    assert next(stream)["choices"][0]["delta"]["role"] == "assistant"
    with pytest.raises(ProviderError, match="anthropic") as caught:
        list(stream)

    assert caught.value.upstream_message == "stream ended before message_stop"


def test_connect_timeout_is_a_provider_timeout(silent):
    provider = AnthropicProvider(ProviderSettings(base_url=silent, api_key="k",
                                                  connect_timeout=0.2))

    with pytest.raises(ProviderTimeout):
        provider.chat(chat_request())


def test_closing_the_stream_closes_the_upstream_response(scripted, scripted_provider):
    scripted.answer_next(StreamReply(load_events("anthropic_stream_text.sse"), delay=0.3))
    stream = scripted_provider.stream(chat_request())

    next(stream)
    stream.close()

    deadline = time.monotonic() + 5
    while not scripted.aborted_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (scripted.aborted_streams, scripted.completed_streams) == (1, 0)
