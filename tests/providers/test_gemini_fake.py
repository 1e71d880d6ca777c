"""The Gemini fake is checked by Google's own SDK, so it cannot drift from the real wire format."""
from __future__ import annotations

import pytest
import requests
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import Answer

MODEL = "gemini-2.5-flash"


@pytest.fixture
def client(gemini_fake):
    return genai.Client(api_key="x", http_options=types.HttpOptions(base_url=gemini_fake.url))


def test_text_answer_is_parsed_by_the_sdk(client, gemini_fake):
    gemini_fake.answer = Answer.text("Bonjour tout le monde", prompt_tokens=4, output_tokens=5,
                                     thoughts_tokens=11)

    response = client.models.generate_content(model=MODEL, contents="Say hello in French")

    assert response.text == "Bonjour tout le monde"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == MODEL
    assert response.response_id
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count) == (4, 5)
    assert usage.thoughts_token_count == 11
    assert usage.total_token_count == 20
    sent = gemini_fake.received[-1]
    assert sent.path == f"/v1/models/{MODEL}:generateContent"  # the SDK's default version
    assert sent.headers["x-goog-api-key"] == "x"
    assert sent.body["contents"][0]["parts"] == [{"text": "Say hello in French"}]


def test_function_calls_are_parsed_by_the_sdk(client, gemini_fake):
    gemini_fake.answer = Answer.function_calls(("get_weather", {"city": "Paris"}),
                                               ("get_time", {"zone": "CET"}),
                                               thought_signature="c2lnbmF0dXJl")

    response = client.models.generate_content(model=MODEL, contents="Weather and time in Paris?")

    calls = response.function_calls
    assert [(call.name, call.args) for call in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]
    assert response.candidates[0].content.parts[0].thought_signature == b"signature"


def test_stream_is_parsed_by_the_sdk(client, gemini_fake):
    gemini_fake.answer = Answer.text("Streaming works nicely", output_tokens=3)

    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Stream please"))

    assert len(chunks) > 1
    assert "".join(chunk.text for chunk in chunks) == "Streaming works nicely"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(chunk.candidates[0].finish_reason is None for chunk in chunks[:-1])
    assert chunks[-1].usage_metadata.candidates_token_count == 3
    sent = gemini_fake.received[-1]
    assert sent.path == f"/v1/models/{MODEL}:streamGenerateContent"
    assert sent.query["alt"] == ["sse"]


def test_streamed_function_call_arrives_whole(client, gemini_fake):
    gemini_fake.answer = Answer.function_calls(("lookup", {"q": "aqta"}))

    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Look it up"))

    calls = [call for chunk in chunks for call in (chunk.function_calls or [])]
    assert [(call.name, call.args) for call in calls] == [("lookup", {"q": "aqta"})]


def test_several_candidates(client, gemini_fake):
    gemini_fake.answer = Answer.text("same")

    response = client.models.generate_content(
        model=MODEL, contents="Hi", config=types.GenerateContentConfig(candidate_count=2))

    assert [candidate.index for candidate in response.candidates] == [0, 1]


def test_blocked_prompt_is_parsed_by_the_sdk(client, gemini_fake):
    gemini_fake.answer = Answer.blocked("PROHIBITED_CONTENT")

    response = client.models.generate_content(model=MODEL, contents="something bad")

    assert not response.candidates
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT


@pytest.mark.parametrize(("status", "error_class", "status_name"), [
    (400, errors.ClientError, "INVALID_ARGUMENT"),
    (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
    (500, errors.ServerError, "INTERNAL"),
    (503, errors.ServerError, "UNAVAILABLE"),
])
def test_error_statuses_become_sdk_errors(client, gemini_fake, status, error_class, status_name):
    gemini_fake.fail_next(status=status)

    with pytest.raises(error_class) as caught:
        client.models.generate_content(model=MODEL, contents="Hi")

    assert isinstance(caught.value, errors.APIError)
    assert caught.value.code == status
    assert caught.value.status == status_name
    assert caught.value.message == f"injected failure {status}"


def test_failure_on_stream_request(client, gemini_fake):
    gemini_fake.fail_next(status=503)

    with pytest.raises(errors.ServerError):
        list(client.models.generate_content_stream(model=MODEL, contents="Hi"))


def test_missing_api_key_and_unknown_method_are_refused(gemini_fake):
    no_key = requests.post(f"{gemini_fake.url}/v1beta/models/{MODEL}:generateContent",
                           json={"contents": [{"parts": [{"text": "Hi"}]}]}, timeout=5)
    unknown = requests.post(f"{gemini_fake.url}/v1beta/models/{MODEL}:countTokens",
                            headers={"x-goog-api-key": "x"}, json={}, timeout=5)

    assert no_key.status_code == 403
    assert no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == 404


def test_error_object_in_the_stream_is_raised_by_the_sdk(gemini_fake):
    client = genai.Client(api_key="x", http_options=types.HttpOptions(
        base_url=gemini_fake.url, api_version="v1beta"))
    gemini_fake.answer = Answer.text("partial answer then trouble",
                                     stream_error={"code": 500, "message": "boom",
                                                   "status": "INTERNAL"})

    stream = client.models.generate_content_stream(model=MODEL, contents="Hi")
    first = next(stream)
    with pytest.raises(errors.ServerError) as caught:
        next(stream)

    assert first.text == "parti"
    assert caught.value.message == "boom"
    assert gemini_fake.received[-1].path == f"/v1beta/models/{MODEL}:streamGenerateContent"
