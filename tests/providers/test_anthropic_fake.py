"""The Anthropic fake, checked by the official ``anthropic`` SDK so it cannot drift."""
from __future__ import annotations

import anthropic
import pytest
import requests

from tests.fakes.anthropic_upstream import DEFAULT_TEXT, api_key

MODEL = "claude-sonnet-4-6"
WEATHER = {"name": "get_weather", "description": "Current weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


@pytest.fixture
def client(anthropic_fake):
    return anthropic.Anthropic(base_url=anthropic_fake.url, api_key="x", max_retries=0)


def ask(**overrides):
    return {"model": MODEL, "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hi"}], **overrides}


def test_create_returns_a_text_message(client, anthropic_fake):
    message = client.messages.create(**ask(system="Be brief."))

    assert message.type == "message" and message.role == "assistant"
    assert message.model == MODEL
    assert [block.text for block in message.content] == [DEFAULT_TEXT]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = anthropic_fake.received[0]
    assert api_key(sent) == "x" and sent.headers["anthropic-version"]
    assert sent.body["system"] == "Be brief."


def test_create_calls_the_tool_that_tool_choice_forces(client):
    message = client.messages.create(**ask(tools=[WEATHER],
                                           tool_choice={"type": "tool", "name": "get_weather"}))

    [block] = message.content
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == {"city": "example"} and block.id.startswith("toolu_")
    assert message.stop_reason == "tool_use"


def test_create_answers_a_canned_tool_call_after_text(client, anthropic_fake):
    anthropic_fake.answer("Checking.", tool_calls=[("get_weather", {"city": "Paris"})],
                          usage={"cache_read_input_tokens": 7})

    message = client.messages.create(**ask(tools=[WEATHER]))

    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Paris"}
    assert message.usage.cache_read_input_tokens == 7


def test_stop_sequences_and_max_tokens_end_the_answer(client, anthropic_fake):
    anthropic_fake.answer("one two three four")

    stopped = client.messages.create(**ask(stop_sequences=[" three"]))
    cut = client.messages.create(**ask(max_tokens=2))

    assert (stopped.content[0].text, stopped.stop_reason) == ("one two", "stop_sequence")
    assert stopped.stop_sequence == " three"
    assert (cut.content[0].text, cut.stop_reason) == ("one two", "max_tokens")


def test_stream_sends_the_real_event_sequence(client, anthropic_fake):
    anthropic_fake.answer("A reply long enough to need several deltas.")

    kinds = [event.type for event in client.messages.create(**ask(), stream=True)]
    with client.messages.stream(**ask()) as stream:
        message = stream.get_final_message()

    deltas = kinds.count("content_block_delta")
    assert deltas > 1
    assert kinds == ["message_start", "content_block_start", *["content_block_delta"] * deltas,
                     "content_block_stop", "message_delta", "message_stop"]
    assert message.content[0].text == "A reply long enough to need several deltas."
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 8


def test_stream_final_message_assembles_text_and_tool_input(client, anthropic_fake):
    anthropic_fake.answer("Let me look.", tool_calls=[("get_weather", {"city": "Dublin, IE"})])

    with client.messages.stream(**ask(tools=[WEATHER])) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()

    assert text == "Let me look."
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Dublin, IE"}
    assert message.content[1].name == "get_weather"
    assert message.stop_reason == "tool_use"


def test_stream_error_event_raises_in_the_sdk(client, anthropic_fake):
    anthropic_fake.answer(stream_error=("overloaded_error", "Overloaded"))

    with pytest.raises(anthropic.APIStatusError) as caught, \
            client.messages.stream(**ask()) as stream:
        stream.get_final_message()

    assert caught.value.body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("status, exception, kind", [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
])
def test_error_statuses_become_sdk_exceptions(client, anthropic_fake, status, exception, kind):
    anthropic_fake.fail_next(status=status)

    with pytest.raises(exception) as caught:
        client.messages.create(**ask())

    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == kind


@pytest.mark.parametrize("overrides, message", [
    ({"messages": [{"role": "system", "content": "x"}]}, "role"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
     "alternate"),
    ({"extra_body": {"temperature": 1.5}}, "temperature"),
    ({"extra_body": {"seed": 1}}, "seed"),
    ({"messages": [{"role": "user", "content": "a"},
                   {"role": "assistant", "content": [
                       {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                   {"role": "user", "content": "no result"}]}, "tool_result"),
])
def test_requests_the_real_api_refuses_are_refused(client, overrides, message):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**ask(**overrides))

    assert message in caught.value.body["error"]["message"]


def test_missing_api_key_is_401(anthropic_fake):
    response = requests.post(f"{anthropic_fake.url}/v1/messages", json=ask(),
                             headers={"anthropic-version": "2023-06-01"})

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
