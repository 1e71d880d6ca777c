"""Gemini translation, request and answer, on recorded payloads: pure functions, no I/O."""
from __future__ import annotations

import json

import pytest

from providers.base import Usage
from providers.errors import ProviderError, UnsupportedRequest
from providers.gemini_format import (
    SKIP_SIGNATURE,
    finish_reason,
    from_gemini_response,
    generation_config,
    logprobs,
    to_gemini_request,
)
from providers.google import StreamTranslator
from tests.support.recorded import load_events, load_json

MODEL = "gemini-2.5-flash"
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "lookup", "arguments": "{\"q\": \"aqta\"}"}}


def user(content):
    return {"role": "user", "content": content}


# -- request -------------------------------------------------------------------------

def test_recorded_conversation_translates_to_the_recorded_gemini_request():
    recorded = load_json("gemini_request_conversation.json")

    assert to_gemini_request(recorded["openai"]) == recorded["gemini"]


@pytest.mark.parametrize(("body", "expected"), [
    ({}, {}),
    ({"temperature": 0, "top_p": 1, "seed": 3}, {"temperature": 0, "topP": 1, "seed": 3}),
    ({"max_tokens": 100}, {"maxOutputTokens": 100}),
    ({"max_tokens": 100, "max_completion_tokens": 50}, {"maxOutputTokens": 50}),
    ({"stop": "END"}, {"stopSequences": ["END"]}),
    ({"stop": ["a", "b"]}, {"stopSequences": ["a", "b"]}),
    ({"n": 2}, {"candidateCount": 2}),
    ({"presence_penalty": 0.5, "frequency_penalty": -0.5},
     {"presencePenalty": 0.5, "frequencyPenalty": -0.5}),
    ({"response_format": {"type": "text"}}, {}),
    ({"response_format": {"type": "json_object"}}, {"responseMimeType": "application/json"}),
    ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "city", "strict": True,
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}},
     {"responseMimeType": "application/json",
      "responseJsonSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
    ({"logprobs": True, "top_logprobs": 3}, {"responseLogprobs": True, "logprobs": 3}),
    ({"logprobs": False, "logit_bias": {"50256": -100}, "user": "u", "parallel_tool_calls": False},
     {}),
])
def test_generation_config(body, expected):
    assert generation_config(body) == expected


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "lookup"}},
     {"mode": "ANY", "allowedFunctionNames": ["lookup"]}),
])
def test_tool_choice(choice, expected):
    body = {"messages": [user("hi")], "tool_choice": choice,
            "tools": [{"type": "function", "function": {"name": "lookup"}}]}

    request = to_gemini_request(body)

    assert request["tools"] == [{"functionDeclarations": [{"name": "lookup"}]}]
    assert request["toolConfig"] == {"functionCallingConfig": expected}


@pytest.mark.parametrize(("messages", "contents"), [
    pytest.param([user("a"), user("b")], [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}],
                 id="same-role turns merged"),
    pytest.param([user([{"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg?s=1"}}])],
                 [{"role": "user", "parts": [{"fileData": {"fileUri": "https://x.test/cat.jpg?s=1",
                                                           "mimeType": "image/jpeg"}}]}],
                 id="https image becomes fileData"),
    pytest.param([user([{"type": "image_url", "image_url": {"url": "gs://bucket/object"}}])],
                 [{"role": "user", "parts": [{"fileData": {"fileUri": "gs://bucket/object"}}]}],
                 id="gs uri without a known type"),
    pytest.param([user([{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}}])],
                 [{"role": "user", "parts": [{"inlineData": {"mimeType": "audio/mp3",
                                                             "data": "UklGRg=="}}]}],
                 id="input audio"),
    pytest.param([user([{"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}}])],
                 [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf",
                                                             "data": "JVBE"}}]}],
                 id="file as data url"),
    pytest.param([user("q"), {"role": "assistant", "content": "", "tool_calls": [CALL]},
                  {"role": "tool", "tool_call_id": "call_1",
                   "content": [{"type": "text", "text": "not json"}]}],
                 [{"role": "user", "parts": [{"text": "q"}]},
                  {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": "aqta"}},
                                               "thoughtSignature": SKIP_SIGNATURE}]},
                  {"role": "user", "parts": [{"functionResponse": {
                      "name": "lookup", "response": {"output": "not json"}}}]}],
                 id="lost signature gets the placeholder, text result wrapped"),
    pytest.param([user("q"), {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                  {"role": "assistant", "content": None}],
                 [{"role": "user", "parts": [{"text": "q"}]},
                  {"role": "model", "parts": [{"text": "ok"}]}],
                 id="empty assistant turn dropped"),
])
def test_messages_to_contents(messages, contents):
    assert to_gemini_request({"messages": messages})["contents"] == contents


@pytest.mark.parametrize(("body", "field"), [
    ({"messages": [user("hi")], "functions": [{"name": "f"}]}, "functions"),
    ({"messages": [user("hi")], "modalities": ["text", "audio"]}, "modalities"),
    ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
    ({"messages": [{"role": "function", "name": "f", "content": "1"}]}, "messages[0].role"),
    ({"messages": [user("q"), {"role": "tool", "tool_call_id": "call_x", "content": "1"}]},
     "messages[1].tool_call_id"),
    ({"messages": [user([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}])]},
     "messages[0].content[0]"),
    ({"messages": [user([{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}])]},
     "messages[0].content[0]"),
    ({"messages": [user([{"type": "file", "file": {"file_id": "file-123"}}])]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "assistant", "tool_calls": [
        {**CALL, "function": {"name": "lookup", "arguments": "{oops"}}]}]},
     "messages[0].tool_calls[0]"),
    ({"messages": [user("hi")], "tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
    ({"messages": [user("hi")], "tool_choice": "sometimes",
      "tools": [{"type": "function", "function": {"name": "f"}}]}, "tool_choice"),
])
def test_requests_gemini_cannot_serve_are_clear_400s(body, field):
    with pytest.raises(UnsupportedRequest) as caught:
        to_gemini_request(body)

    assert caught.value.status == 400
    assert caught.value.field == field


# -- answer --------------------------------------------------------------------------

def test_text_answer():
    response = from_gemini_response(load_json("gemini_text_response.json"), model=MODEL, created=1)

    body = response.body
    assert body["id"] == "Vt3waOqLH8SDz7IPu-K9qAQ"
    assert (body["object"], body["model"], body["created"]) == ("chat.completion", MODEL, 1)
    assert body["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "stop", "message": {
        "role": "assistant", "refusal": None,
        "content": "AI learns patterns from data to make predictions or decisions."}}]
    assert response.usage == Usage(prompt_tokens=8, completion_tokens=12 + 997)
    assert body["usage"]["total_tokens"] == 1017
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 997}


def test_function_call_answer():
    response = from_gemini_response(load_json("gemini_function_call_response.json"),
                                    model=MODEL, created=1)

    choice = response.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first["id"].startswith("call_") and first["id"] != second["id"]
    assert first["function"] == {"name": "get_current_temperature",
                                 "arguments": json.dumps({"location": "Paris"})}
    assert json.loads(second["function"]["arguments"]) == {"location": "London"}
    assert first["extra_content"]["google"]["thought_signature"].startswith("CiQB")
    assert "extra_content" not in second


def test_tool_call_round_trip_keeps_the_signature():
    answer = from_gemini_response(load_json("gemini_function_call_response.json"),
                                  model=MODEL, created=1).body["choices"][0]["message"]
    calls = answer["tool_calls"]
    follow_up = [user("temperatures?"), answer,
                 *({"role": "tool", "tool_call_id": call["id"], "content": "20"} for call in calls)]

    contents = to_gemini_request({"messages": follow_up})["contents"]

    assert contents[1]["parts"] == load_json("gemini_function_call_response.json")[
        "candidates"][0]["content"]["parts"]
    assert [part["functionResponse"]["response"] for part in contents[2]["parts"]] == [
        {"output": 20}, {"output": 20}]


@pytest.mark.parametrize(("payload", "finish", "content"), [
    ("gemini_blocked_prompt.json", "content_filter", None),
    ("gemini_safety_finish.json", "content_filter", ""),
])
def test_filtered_answers(payload, finish, content):
    response = from_gemini_response(load_json(payload), model=MODEL, created=1)

    (choice,) = response.body["choices"]
    assert (choice["finish_reason"], choice["message"]["content"]) == (finish, content)
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens == 0


def test_answer_with_nothing_in_it_is_a_provider_error():
    with pytest.raises(ProviderError) as caught:
        from_gemini_response({"modelVersion": MODEL}, model=MODEL, created=1)

    assert caught.value.status == 502


def test_thoughts_and_several_candidates():
    data = {"candidates": [
        {"index": 1, "content": {"parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS"},
        {"index": 0, "content": {"parts": [{"text": "thinking…", "thought": True}, {"text": "A"}]},
         "finishReason": "STOP"}]}

    choices = from_gemini_response(data, model=MODEL, created=1).body["choices"]

    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "A", "stop"), (1, "B", "length")]


@pytest.mark.parametrize(("reason", "tools", "expected"), [
    (None, False, None), ("STOP", False, "stop"), ("STOP", True, "tool_calls"),
    ("MAX_TOKENS", True, "length"), ("SAFETY", False, "content_filter"),
    ("RECITATION", False, "content_filter"), ("BLOCKLIST", False, "content_filter"),
    ("PROHIBITED_CONTENT", False, "content_filter"), ("SPII", False, "content_filter"),
    ("MALFORMED_FUNCTION_CALL", False, "stop"), ("OTHER", False, "stop"),
])
def test_finish_reasons(reason, tools, expected):
    assert finish_reason(reason, tools) == expected


def test_logprobs():
    result = {"chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
              "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1},
                                                {"token": "Hey", "logProbability": -2.5}]}]}

    assert logprobs(result) == {"refusal": None, "content": [
        {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [
            {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
            {"token": "Hey", "logprob": -2.5, "bytes": [72, 101, 121]}]}]}


# -- stream --------------------------------------------------------------------------

def translate(events, model=MODEL):
    translator = StreamTranslator(model, created=1)
    chunks = [chunk for event, data in events for chunk in translator.feed(event, data)]
    return chunks + translator.finish()


def test_text_stream():
    chunks = translate(load_events("gemini_stream_text.sse"))

    assert {chunk["id"] for chunk in chunks} == {"XODwaJfHN-KBz7IP5sbZ-Qg"}
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": "The"}
    assert "".join(delta.get("content") or "" for delta in deltas) == (
        "The sky is blue because air scatters blue light more than red light.\n")
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks[:-1]][-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 6
    assert chunks[-1]["usage"]["completion_tokens"] == 14


def test_function_call_stream():
    chunks = translate(load_events("gemini_stream_function_call.sse"))

    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": "Let me check both cities."}
    calls = deltas[1]["tool_calls"]
    assert [call["index"] for call in calls] == [0, 1]
    assert [json.loads(call["function"]["arguments"]) for call in calls] == [
        {"location": "Paris"}, {"location": "London"}]
    assert all(call["id"].startswith("call_") and call["type"] == "function" for call in calls)
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == 43 + 69


def test_tool_call_indexes_continue_across_events():
    translator = StreamTranslator(MODEL, created=1)
    call = {"functionCall": {"name": "f", "args": {}}}
    event = {"candidates": [{"content": {"parts": [call]}}]}

    first, second = translator.feed(None, json.dumps(event)), translator.feed(None, json.dumps(event))

    assert first[0]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert second[0]["choices"][0]["delta"] == {"tool_calls": [
        {**second[0]["choices"][0]["delta"]["tool_calls"][0], "index": 1}]}


def test_error_in_the_stream_is_a_provider_error():
    with pytest.raises(ProviderError) as caught:
        translate(load_events("gemini_stream_error.sse"))

    assert caught.value.upstream_status == 503
    assert caught.value.upstream_message == "The model is overloaded. Please try again later."


@pytest.mark.parametrize("events", [[], load_events("gemini_stream_text.sse")[:-1]],
                         ids=["empty", "cut before the finish reason"])
def test_stream_that_ends_early_is_a_provider_error(events):
    with pytest.raises(ProviderError, match="upstream provider 'google' failed"):
        translate(events)


def test_blocked_prompt_stream():
    event = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}

    chunks = translate([(None, json.dumps(event))])

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["finish_reason"] == "content_filter"
    assert chunks[2]["usage"]["prompt_tokens"] == 4
