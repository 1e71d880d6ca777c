"""GoogleProvider end to end against the loopback Gemini fake, and its failure paths."""
from __future__ import annotations

import json
import socket

import pytest

from app.gateway.routing import ModelRegistry
from providers import build_provider
from providers.base import ChatRequest, ProviderSettings
from providers.errors import ProviderError, ProviderTimeout, UnsupportedRequest
from providers.gemini_format import SKIP_SIGNATURE
from providers.google import GoogleProvider
from tests.fakes.gemini_upstream import Answer, FakeGemini
from tests.fakes.server import Reply

MODEL = "gemini-2.5-flash"
PATH = f"/v1beta/models/{MODEL}"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def provider_for(fake: FakeGemini, **settings) -> GoogleProvider:
    return GoogleProvider(ProviderSettings(base_url=fake.url, api_key="k", **settings))


def ask(*messages: dict, **options) -> ChatRequest:
    return ChatRequest(model=MODEL, body={"model": "gemini-flash", "messages": list(messages),
                                          **options})


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def stream_content(chunks: list[dict]) -> str:
    return "".join(chunk["choices"][0]["delta"].get("content") or ""
                   for chunk in chunks if chunk["choices"])


# -- happy paths ---------------------------------------------------------------------

def test_registered_under_its_name():
    provider = build_provider("google", ProviderSettings(api_key="k"))

    assert isinstance(provider, GoogleProvider)
    assert provider.base_url == "https://generativelanguage.googleapis.com"
    assert ModelRegistry.from_file().resolve(MODEL).provider == provider.name


def test_chat_text(gemini_fake):
    gemini_fake.answer = Answer.text("Bonjour !", prompt_tokens=11, output_tokens=3,
                                     thoughts_tokens=20)

    response = provider_for(gemini_fake).chat(ask(
        {"role": "system", "content": "Be brief."}, user("Say hello in French"),
        temperature=0.3, max_tokens=50))

    choice = response.body["choices"][0]
    assert choice["message"]["content"] == "Bonjour !"
    assert choice["finish_reason"] == "stop"
    assert response.body["model"] == MODEL
    assert response.body["id"]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 23)
    sent = gemini_fake.received[-1]
    assert sent.path == f"{PATH}:generateContent"
    assert sent.headers["x-goog-api-key"] == "k"
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello in French"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "maxOutputTokens": 50}}


def test_chat_several_candidates(gemini_fake):
    response = provider_for(gemini_fake).chat(ask(user("hi"), n=2))

    assert [choice["index"] for choice in response.body["choices"]] == [0, 1]
    assert gemini_fake.received[-1].body["generationConfig"] == {"candidateCount": 2}


def test_function_calls_both_ways(gemini_fake):
    provider = provider_for(gemini_fake)
    gemini_fake.answer = Answer.function_calls(("get_weather", {"city": "Paris"}),
                                               ("get_weather", {"city": "Oslo"}),
                                               thought_signature="c2lnbmF0dXJl")

    first = provider.chat(ask(user("Weather in Paris and Oslo?"), tools=TOOLS,
                              tool_choice="required"))

    sent = gemini_fake.received[-1].body
    assert sent["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather in a city",
        "parametersJsonSchema": TOOLS[0]["function"]["parameters"]}]}]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    message = first.body["choices"][0]["message"]
    assert first.body["choices"][0]["finish_reason"] == "tool_calls"
    assert [json.loads(call["function"]["arguments"]) for call in message["tool_calls"]] == [
        {"city": "Paris"}, {"city": "Oslo"}]

    gemini_fake.answer = Answer.text("Paris 21 °C, Oslo 9 °C.")
    results = [{"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"temp": temp})}
               for call, temp in zip(message["tool_calls"], (21, 9))]
    second = provider.chat(ask(user("Weather in Paris and Oslo?"), message, *results, tools=TOOLS))

    assert second.body["choices"][0]["message"]["content"] == "Paris 21 °C, Oslo 9 °C."
    model_turn, results_turn = gemini_fake.received[-1].body["contents"][1:]
    assert model_turn == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
         "thoughtSignature": "c2lnbmF0dXJl"},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]}
    assert results_turn == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
        {"functionResponse": {"name": "get_weather", "response": {"temp": 9}}}]}


def test_client_that_drops_signatures_still_gets_an_answer(gemini_fake):
    call = {"id": "call_abc", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}

    provider_for(gemini_fake).chat(ask(
        user("Rome?"), {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"}, tools=TOOLS))

    parts = gemini_fake.received[-1].body["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == SKIP_SIGNATURE


def test_stream_text(gemini_fake):
    gemini_fake.answer = Answer.text("The quick brown fox jumps.", prompt_tokens=5,
                                     output_tokens=7)

    chunks = list(provider_for(gemini_fake).stream(ask(user("Tell me about foxes"))))

    assert len(chunks) > 4
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert stream_content(chunks) == "The quick brown fox jumps."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0}}
    assert len({chunk["id"] for chunk in chunks}) == 1
    sent = gemini_fake.received[-1]
    assert sent.path == f"{PATH}:streamGenerateContent"
    assert sent.query == {"alt": ["sse"]}
    assert sent.headers["x-goog-api-key"] == "k"


def test_stream_function_calls(gemini_fake):
    gemini_fake.answer = Answer.function_calls(("get_weather", {"city": "Paris"}),
                                               ("get_weather", {"city": "Oslo"}))

    chunks = list(provider_for(gemini_fake).stream(ask(user("Weather?"), tools=TOOLS)))

    calls = [call for chunk in chunks if chunk["choices"]
             for call in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert [(call["index"], call["function"]["name"], json.loads(call["function"]["arguments"]))
            for call in calls] == [(0, "get_weather", {"city": "Paris"}),
                                   (1, "get_weather", {"city": "Oslo"})]
    finishes = [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]]
    assert finishes[-1] == "tool_calls"


@pytest.mark.parametrize("streaming", [False, True])
def test_blocked_prompt_is_a_content_filter_answer(gemini_fake, streaming):
    gemini_fake.answer = Answer.blocked("SAFETY", prompt_tokens=4)
    provider = provider_for(gemini_fake)

    if streaming:
        chunks = list(provider.stream(ask(user("something bad"))))
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1]
        prompt_tokens = chunks[-1]["usage"]["prompt_tokens"]
    else:
        response = provider.chat(ask(user("something bad")))
        finish = response.body["choices"][0]["finish_reason"]
        prompt_tokens = response.usage.prompt_tokens

    assert (finish, prompt_tokens) == ("content_filter", 4)


# -- failures ------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
@pytest.mark.parametrize("streaming", [False, True])
def test_upstream_http_errors_are_provider_errors(gemini_fake, status, streaming):
    gemini_fake.fail_next(status=status)
    provider = provider_for(gemini_fake)

    with pytest.raises(ProviderError) as caught:
        if streaming:
            list(provider.stream(ask(user("hi"))))
        else:
            provider.chat(ask(user("hi")))

    error = caught.value
    assert (error.status, error.code, error.provider) == (502, "provider_error", "google")
    assert error.upstream_status == status
    assert error.upstream_message == f"injected failure {status}"


def test_connection_refused_is_a_provider_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = GoogleProvider(ProviderSettings(base_url=f"http://127.0.0.1:{port}", api_key="k"))

    with pytest.raises(ProviderError) as caught:
        provider.chat(ask(user("hi")))

    assert caught.value.status == 502
    assert caught.value.upstream_status is None


@pytest.mark.parametrize("streaming", [False, True])
def test_hang_beyond_read_timeout_is_a_provider_timeout(gemini_fake, streaming):
    gemini_fake.fail_next(hang=1.0)
    provider = provider_for(gemini_fake, read_timeout=0.2)

    with pytest.raises(ProviderTimeout) as caught:
        if streaming:
            list(provider.stream(ask(user("hi"))))
        else:
            provider.chat(ask(user("hi")))

    assert (caught.value.status, caught.value.code) == (504, "provider_timeout")


def test_stream_broken_midway_is_a_provider_error(gemini_fake):
    gemini_fake.answer = Answer.text("a long enough answer to need many events")
    gemini_fake.fail_next(break_after=2)
    stream = provider_for(gemini_fake).stream(ask(user("hi")))

    chunks = [next(stream), next(stream)]  # the two events that got through
    with pytest.raises(ProviderError):
        next(stream)

    assert stream_content(chunks) == "a long eno"  # two events of five characters


def test_error_object_in_the_stream_is_a_provider_error(gemini_fake):
    gemini_fake.answer = Answer.text("partial answer", stream_error={
        "code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"})

    with pytest.raises(ProviderError) as caught:
        list(provider_for(gemini_fake).stream(ask(user("hi"))))

    assert caught.value.upstream_status == 500
    assert caught.value.upstream_message == "An internal error has occurred."


def test_closing_the_stream_early_leaves_the_provider_usable(gemini_fake):
    gemini_fake.answer = Answer.text("a long enough answer to need many events")
    provider = provider_for(gemini_fake)

    stream = provider.stream(ask(user("hi")))
    next(stream)
    stream.close()

    assert provider.chat(ask(user("again"))).body["choices"][0]["finish_reason"] == "stop"


# -- answers no Gemini would give, from a scripted upstream ----------------------------

@pytest.fixture
def scripted_provider(scripted):
    return GoogleProvider(ProviderSettings(base_url=scripted.url, api_key="secret"))


def test_non_json_error_page_is_kept_for_the_log(scripted, scripted_provider):
    scripted.answer_next(Reply(b"<html>Bad Gateway</html>", 502, {"Content-Type": "text/html"}))

    with pytest.raises(ProviderError) as caught:
        scripted_provider.chat(ask(user("hi")))

    assert caught.value.upstream_status == 502
    assert caught.value.upstream_message == "<html>Bad Gateway</html>"
    assert scripted.received[0].path == f"{PATH}:generateContent"
    assert scripted.received[0].headers["x-goog-api-key"] == "secret"


def test_unreadable_answer_is_a_provider_error(scripted, scripted_provider):
    scripted.answer_next(Reply(b"{not json"))

    with pytest.raises(ProviderError, match="google") as caught:
        scripted_provider.chat(ask(user("hi")))

    assert caught.value.upstream_status == 200
    assert caught.value.upstream_message.startswith("unreadable body")


def test_connect_timeout_is_a_provider_timeout(silent):
    provider = GoogleProvider(ProviderSettings(base_url=silent, api_key="k", connect_timeout=0.2))

    with pytest.raises(ProviderTimeout):
        provider.chat(ask(user("hi")))


def test_invalid_request_never_reaches_the_upstream(scripted, scripted_provider):
    with pytest.raises(UnsupportedRequest) as caught:
        scripted_provider.chat(ask({"role": "tool", "tool_call_id": "nope", "content": "1"}))

    assert caught.value.status == 400
    assert scripted.received == []
