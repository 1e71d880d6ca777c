"""The OpenAI and Perplexity fakes, checked by the official ``openai`` SDK.

If the SDK parses what the fakes send, the fakes speak the real wire format, and
provider tests against them mean something.
"""
from __future__ import annotations

import json

import openai
import pytest

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
MESSAGES = [{"role": "user", "content": "Hello?"}]


def client(fake, path: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url + path, api_key="sk-test", max_retries=0, timeout=5)


def test_openai_fake_answers_the_sdk(openai_fake):
    openai_fake.answer(text="Hi there.", prompt_tokens=7, completion_tokens=3)
    completion = client(openai_fake).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hi there."
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens,
            completion.usage.total_tokens) == (7, 3, 10)
    assert openai_fake.received[0].headers["authorization"] == "Bearer sk-test"


def test_openai_fake_streams_with_usage(openai_fake):
    openai_fake.answer(text="One two three.", prompt_tokens=5, completion_tokens=4)
    chunks = list(client(openai_fake).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == 9
    assert openai_fake.completed_streams == 1


def test_openai_fake_streams_without_usage_unless_asked(openai_fake):
    chunks = list(client(openai_fake).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True))
    assert chunks
    assert all(c.choices and c.usage is None for c in chunks)


def test_openai_fake_tool_call_deltas_assemble_in_the_sdk(openai_fake):
    openai_fake.answer(tool_arguments={"city": "Cork", "unit": "celsius"})
    forced = {"type": "function", "function": {"name": "get_weather"}}
    with client(openai_fake).chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice=forced,
            stream_options={"include_usage": True}) as stream:
        for _event in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_fake0001", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Cork", "unit": "celsius"}
    assert final.usage.completion_tokens == 9


def test_openai_fake_tool_call_non_streamed(openai_fake):
    openai_fake.answer(tool_name="get_weather")
    completion = client(openai_fake).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL])
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Dublin"}


def test_openai_fake_lists_models(openai_fake):
    assert [m.id for m in client(openai_fake).models.list()] == ["gpt-4o", "gpt-4o-mini",
                                                                 "gpt-3.5-turbo"]


@pytest.mark.parametrize("status, error_class", [
    (400, openai.BadRequestError),
    (401, openai.AuthenticationError),
    (403, openai.PermissionDeniedError),
    (404, openai.NotFoundError),
    (429, openai.RateLimitError),
    (500, openai.InternalServerError),
    (503, openai.InternalServerError),
])
def test_openai_fake_errors_map_to_sdk_exceptions(openai_fake, status, error_class):
    openai_fake.fail_next(status=status)
    with pytest.raises(error_class) as caught:
        client(openai_fake).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.status_code == status
    assert caught.value.message.endswith(f"injected failure {status}")


def test_openai_fake_rejects_a_missing_key(openai_fake):
    fake_client = openai.OpenAI(base_url=openai_fake.url + "/v1", api_key="unused", max_retries=0,
                                default_headers={"Authorization": "Bearer"})
    with pytest.raises(openai.AuthenticationError) as caught:
        fake_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.code == "invalid_api_key"


def test_openai_fake_error_mid_stream_raises_in_the_sdk(openai_fake):
    openai_fake.error_mid_stream(after=2)
    stream = client(openai_fake).chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                                         stream=True)
    with pytest.raises(openai.APIError):
        list(stream)


def test_perplexity_fake_keeps_search_fields_for_the_sdk(perplexity_fake):
    completion = client(perplexity_fake, "").chat.completions.create(model="sonar",
                                                                     messages=MESSAGES)
    assert completion.choices[0].message.content.startswith("Hello from the fake")
    assert completion.model_extra["citations"] == ["https://en.wikipedia.org/wiki/Dublin",
                                                   "https://www.visitdublin.com/"]
    assert completion.model_extra["search_results"][0]["title"] == "Dublin - Wikipedia"
    assert completion.usage.total_tokens == 21
    assert completion.usage.model_extra["search_context_size"] == "low"
    assert completion.usage.model_extra["cost"]["total_cost"] == 0.005


def test_perplexity_fake_streams_search_fields_and_usage_on_chunks(perplexity_fake):
    perplexity_fake.answer(text="Dublin is lovely.", completion_tokens=6)
    chunks = list(client(perplexity_fake).chat.completions.create(
        model="sonar", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content for c in chunks) == "Dublin is lovely."
    assert all(c.model_extra["citations"] for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 6
    assert chunks[-1].model_extra["search_results"][1]["url"] == "https://www.visitdublin.com/"


def test_perplexity_fake_errors_map_to_sdk_exceptions(perplexity_fake):
    perplexity_fake.fail_next(status=429)
    with pytest.raises(openai.RateLimitError):
        client(perplexity_fake).chat.completions.create(model="sonar", messages=MESSAGES)


def test_openai_fake_refuses_metadata_without_store_as_openai_does(openai_fake):
    with pytest.raises(openai.BadRequestError) as refused:
        client(openai_fake).chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                                    metadata={"decision_type": "dosing"})
    assert refused.value.body["param"] == "metadata"
    stored = client(openai_fake).chat.completions.create(model="gpt-4o", messages=MESSAGES, store=True,
                                                         metadata={"team": "ward-7"})
    assert stored.choices[0].message.content
