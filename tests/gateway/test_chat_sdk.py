"""The gateway through the official openai SDK, for every provider, streaming and not."""
from __future__ import annotations

import json
import re
import time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import openai
import pytest
import requests

import storage.requests as requests_repo
from app.gateway.request_log.drain import drain_all
from tests.fakes.gemini_upstream import Answer
from tests.gateway.conftest import MODELS

PRICES = json.loads((Path(__file__).parents[2] / "app/gateway/data/prices.json").read_text())["models"]
PROVIDERS = sorted(MODELS)
TOOL_PROVIDERS = ["anthropic", "google", "openai"]  # Perplexity's API has no function calling
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Dublin?"}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def expected_cost(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    price = PRICES[model]
    exact = (Decimal(price["input"]) * prompt_tokens
             + Decimal(price["output"]) * completion_tokens) / Decimal(1_000_000)
    return exact.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_EVEN)


def make_tool_call(fakes, provider: str) -> None:
    """Have the provider's fake answer with a call to get_weather(city=Dublin)."""
    if provider in ("openai", "perplexity"):
        fakes[provider].answer(tool_name="get_weather", tool_arguments={"city": "Dublin"})
    elif provider == "anthropic":
        fakes[provider].answer(tool_calls=[("get_weather", {"city": "Dublin"})])
    else:
        fakes[provider].answer = Answer.function_calls(("get_weather", {"city": "Dublin"}))


@pytest.fixture
def pro(make_account):
    return make_account(tier="pro")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_completion_has_openai_shape_and_exact_cost(gateway, pro, provider):
    client = gateway.client(pro.key)
    raw = client.chat.completions.with_raw_response.create(model=MODELS[provider], messages=MESSAGES)
    answer = raw.parse()
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "stop"
    usage = answer.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    aqta = answer.model_extra["aqta"]
    assert aqta["provider"] == provider
    assert aqta["cached"] is False and aqta["loop_detected"] is False
    assert Decimal(str(aqta["cost_eur"])) == expected_cost(MODELS[provider], usage.prompt_tokens,
                                                       usage.completion_tokens)
    assert aqta["request_id"] == raw.headers["x-request-id"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_metadata_for_aqta_does_not_make_an_upstream_refuse_the_request(gateway, make_account, fakes,
                                                                        provider):
    # A healthcare client declares a decision type and a patient's group in metadata; OpenAI
    # refuses metadata without store, so it must not reach an upstream that did not ask to store.
    client = gateway.client(make_account(tier="healthcare").key)
    answer = client.chat.completions.create(model=MODELS[provider], messages=MESSAGES,
                                            metadata={"decision_type": "dosing", "sex": "female"})
    assert answer.choices[0].message.content
    if provider in ("openai", "perplexity"):
        assert "metadata" not in fakes[provider].received[-1].body


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_has_openai_shape_and_aqta_on_the_final_chunk(gateway, pro, provider, include_usage):
    client = gateway.client(pro.key)
    whole = client.chat.completions.create(model=MODELS[provider], messages=MESSAGES)
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(client.chat.completions.create(model=MODELS[provider], messages=MESSAGES,
                                                 stream=True, **options))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    final = chunks[-1]
    aqta = final.model_extra["aqta"]
    assert aqta["provider"] == provider
    assert [c for c in chunks if "aqta" in (c.model_extra or {})] == [final]
    if include_usage:
        assert final.choices == [] and final.usage is not None
        assert Decimal(str(aqta["cost_eur"])) == expected_cost(
            MODELS[provider], final.usage.prompt_tokens, final.usage.completion_tokens)
    else:
        assert all(c.usage is None for c in chunks)
        assert final.choices[0].finish_reason == "stop"
        assert Decimal(str(aqta["cost_eur"])) == Decimal(str(whole.model_extra["aqta"]["cost_eur"]))


@pytest.mark.parametrize("provider", TOOL_PROVIDERS)
def test_tool_calls_both_ways(gateway, pro, fakes, provider):
    make_tool_call(fakes, provider)
    client = gateway.client(pro.key)
    answer = client.chat.completions.create(
        model=MODELS[provider], messages=MESSAGES, tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Dublin"}
    # The tool's result goes back through the gateway in OpenAI's format.
    fakes[provider].reset()
    follow_up = client.chat.completions.create(model=MODELS[provider], tools=[WEATHER_TOOL], messages=[
        *MESSAGES, answer.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 11}'}])
    assert follow_up.choices[0].message.content


@pytest.mark.parametrize("provider", TOOL_PROVIDERS)
def test_streamed_tool_call_deltas_assemble(gateway, pro, fakes, provider):
    make_tool_call(fakes, provider)
    client = gateway.client(pro.key)
    with client.chat.completions.stream(
            model=MODELS[provider], messages=MESSAGES, tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}}) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Dublin"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_perplexity_citations_are_kept(gateway, pro):
    client = gateway.client(pro.key)
    answer = client.chat.completions.create(model="sonar", messages=MESSAGES)
    assert answer.model_extra["citations"]
    assert answer.model_extra["search_results"][0]["url"].startswith("https://")


def test_mock_provider_needs_no_upstream(gateway, make_account):
    client = gateway.client(make_account(tier="free").key)
    first = client.chat.completions.create(model="mock-1", messages=MESSAGES)
    again = client.chat.completions.create(model="mock-1", messages=MESSAGES)
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.model_extra["aqta"]["provider"] == "mock"
    assert Decimal(str(first.model_extra["aqta"]["cost_eur"])) == expected_cost(
        "mock-*", first.usage.prompt_tokens, first.usage.completion_tokens)
    streamed = client.chat.completions.create(model="mock-demo", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)


def test_provider_prefix_selects_the_provider(gateway, pro):
    client = gateway.client(pro.key)
    answer = client.chat.completions.create(model="anthropic/claude-sonnet-4-0", messages=MESSAGES)
    assert answer.model_extra["aqta"]["provider"] == "anthropic"
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="openai/claude-sonnet-4-0", messages=MESSAGES)
    assert raised.value.code == "model_not_found"


def test_models_list_only_what_the_tier_may_use(gateway, make_account):
    free = {m.id for m in gateway.client(make_account(tier="free").key).models.list()}
    everything = gateway.client(make_account(tier="starter").key).models.list()
    names = {m.id for m in everything}
    assert "gpt-3.5-turbo" in free and "gpt-4o" not in free
    assert free < names and {"gpt-4o", "claude-sonnet-4-0", "gemini-2.5-pro", "sonar"} <= names
    gpt4o = next(m for m in everything if m.id == "gpt-4o")
    assert gpt4o.owned_by == "openai"
    assert gpt4o.model_extra["aqta"]["price_eur_per_million_tokens"] == PRICES["gpt-4o"]


def test_retrieve_a_model(gateway, make_account):
    starter = gateway.client(make_account(tier="starter").key)
    assert starter.models.retrieve("gpt-4o").owned_by == "openai"
    with pytest.raises(openai.NotFoundError):
        starter.models.retrieve("gpt-17")
    with pytest.raises(openai.PermissionDeniedError):
        gateway.client(make_account(tier="free").key).models.retrieve("gpt-4o")


# -- errors ------------------------------------------------------------------------------


def test_invalid_key(gateway):
    with pytest.raises(openai.AuthenticationError) as raised:
        gateway.client("sk-aqta-not-a-key").chat.completions.create(model="mock-1", messages=MESSAGES)
    assert raised.value.code == "invalid_api_key"


@pytest.mark.parametrize("changes, field", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"temperature": 3}, "temperature"),
    ({"top_p": -1}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"n": "two"}, "n"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
])
def test_malformed_requests_name_the_field(gateway, pro, changes, field):
    body = {"model": "mock-1", "messages": MESSAGES, **changes}
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.client(pro.key).chat.completions.create(**body)
    assert raised.value.code == "invalid_request"
    assert raised.value.param == field
    assert field in raised.value.message


def test_body_that_is_not_json(gateway, pro):
    response = requests.post(f"{gateway.url}/v1/chat/completions", data="{oops",
                             headers={**pro.headers, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_model(gateway, pro):
    with pytest.raises(openai.NotFoundError) as raised:
        gateway.client(pro.key).chat.completions.create(model="gpt-17", messages=MESSAGES)
    assert raised.value.code == "model_not_found"


def test_free_tier_model_access(gateway, make_account):
    with pytest.raises(openai.PermissionDeniedError) as raised:
        gateway.client(make_account(tier="free").key).chat.completions.create(
            model="gpt-4o", messages=MESSAGES)
    assert raised.value.code == "model_not_allowed"
    assert "gpt-3.5-turbo" in raised.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_http_error_is_502_naming_the_provider(gateway, pro, fakes, provider, stream, caplog):
    fakes[provider].fail_next(status=500)
    with pytest.raises(openai.InternalServerError) as raised:
        result = gateway.client(pro.key).chat.completions.create(
            model=MODELS[provider], messages=MESSAGES, stream=stream)
        list(result) if stream else None
    assert raised.value.status_code == 502
    assert raised.value.code == "provider_error"
    assert provider in raised.value.message
    assert "injected failure" not in raised.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_upstream_hang_is_504(gateway, pro, fakes, provider):
    fakes[provider].fail_next(hang=2.0)
    with pytest.raises(openai.APIStatusError) as raised:
        gateway.client(pro.key).chat.completions.create(model=MODELS[provider], messages=MESSAGES)
    assert raised.value.status_code == 504
    assert raised.value.code == "provider_timeout"


def test_connection_refused_is_502(make_gateway, gateway_settings, pro):
    from dataclasses import replace

    providers = dict(gateway_settings.providers)
    providers["openai"] = replace(providers["openai"], base_url="http://127.0.0.1:1/v1")
    gateway = make_gateway(providers=providers)
    with pytest.raises(openai.InternalServerError) as raised:
        gateway.client(pro.key).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert (raised.value.status_code, raised.value.code) == (502, "provider_error")


def test_unconfigured_provider(make_gateway, gateway_settings, pro):
    from dataclasses import replace

    providers = dict(gateway_settings.providers)
    providers["google"] = replace(providers["google"], api_key=None)
    gateway = make_gateway(providers=providers)
    with pytest.raises(openai.APIStatusError) as raised:
        gateway.client(pro.key).chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert (raised.value.status_code, raised.value.code) == (503, "provider_not_configured")
    assert "gemini-2.5-flash" not in {m.id for m in gateway.client(pro.key).models.list()}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_broken_mid_way_ends_with_an_error_event(gateway, pro, fakes, provider):
    fakes[provider].fail_next(break_after=3)
    stream = gateway.client(pro.key).chat.completions.create(
        model=MODELS[provider], messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk)
    assert received, "some chunks arrive before the break"
    assert "provider" in str(raised.value.message)


def test_client_disconnect_closes_upstream_and_still_prices(gateway, pro, fakes):
    fake = fakes["openai"]
    fake.chunk_delay = 0.1
    fake.answer(text=" ".join(f"word{i}" for i in range(40)))
    response = requests.post(f"{gateway.url}/v1/chat/completions", stream=True, headers=pro.headers,
                             json={"model": "gpt-4o", "messages": MESSAGES, "stream": True})
    request_id = response.headers["X-Request-Id"]
    lines = response.iter_lines()
    assert next(lines).startswith(b"data: ")
    response.close()
    deadline = time.monotonic() + 5
    while fake.aborted_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.aborted_streams == 1, "the upstream stream was not closed"
    with gateway.app.app_context():
        record = None
        while record is None and time.monotonic() < deadline:
            drain_all()
            record = requests_repo.get(request_id)
            time.sleep(0.05)
    assert record is not None, "the disconnected request was not logged"
    assert record.status == "client_disconnected"
    assert record.cost_eur > 0 and record.completion_tokens > 0  # what was consumed, estimated


def test_stream_headers(gateway, pro):
    response = requests.post(f"{gateway.url}/v1/chat/completions", stream=True, headers=pro.headers,
                             json={"model": "mock-1", "messages": MESSAGES, "stream": True})
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Request-Id"].startswith("req_")
    body = response.text
    assert body.endswith("data: [DONE]\n\n")


def test_authorisation_spelling_works_for_chat(gateway, pro):
    response = requests.post(f"{gateway.url}/v1/chat/completions",
                             headers={"Authorisation": f"Bearer {pro.key}"},
                             json={"model": "mock-1", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.json()["aqta"]["provider"] == "mock"


EXACT_MONEY = re.compile(rb'"(cost_eur|saved_eur)":(\d+\.\d{8})[,}]')


def money_in(raw: bytes) -> dict[str, Decimal]:
    """cost_eur and saved_eur as written: JSON numbers with 8 exact decimal places."""
    found = dict(EXACT_MONEY.findall(raw))
    assert found and not re.search(rb'"(cost_eur|saved_eur)":[^,}]*[eE"]', raw), raw
    parsed = json.loads(raw, parse_float=Decimal)["aqta"]
    assert {name.decode(): Decimal(digits.decode()) for name, digits in found.items()} == \
        {name: parsed[name] for name in ("cost_eur", "saved_eur") if name in parsed}
    return {name: parsed[name] for name in ("cost_eur", "saved_eur") if name in parsed}


def test_money_is_a_json_number_with_the_exact_digits(gateway, pro, fakes):
    """The seed's shape: "cost_eur": 0.00012255, never a string, a float's rounding or 1E-8."""
    body = {"model": MODELS["openai"], "messages": MESSAGES, "temperature": 0}
    fakes["openai"].answer(prompt_tokens=1234, completion_tokens=567)
    first = requests.post(f"{gateway.url}/v1/chat/completions", json=body, headers=pro.headers, timeout=10)
    money = money_in(first.content)
    assert money == {"cost_eur": expected_cost(MODELS["openai"], 1234, 567)}
    hit = requests.post(f"{gateway.url}/v1/chat/completions", json=body, headers=pro.headers, timeout=10)
    assert money_in(hit.content) == {"cost_eur": 0, "saved_eur": money["cost_eur"]}
    assert b'"cost_eur":0.00000000,' in hit.content
    sdk = gateway.client(pro.key).chat.completions.create(**body)  # the SDK reads it as a number
    assert sdk.model_extra["aqta"]["cost_eur"] == 0 and sdk.model_extra["aqta"]["cached"] is True
    assert Decimal(str(sdk.model_extra["aqta"]["saved_eur"])) == money["cost_eur"]


@pytest.mark.parametrize("include_usage", [True, False])
def test_the_final_chunk_carries_exact_money_too(gateway, pro, fakes, include_usage):
    body = {"model": MODELS["openai"], "messages": MESSAGES, "stream": True,
            **({"stream_options": {"include_usage": True}} if include_usage else {})}
    fakes["openai"].answer(prompt_tokens=1234, completion_tokens=567)
    streamed = requests.post(f"{gateway.url}/v1/chat/completions", json=body, headers=pro.headers,
                             timeout=10)
    events = [line.removeprefix(b"data: ") for line in streamed.content.split(b"\n\n") if line]
    assert events[-1] == b"[DONE]"
    assert money_in(events[-2]) == {"cost_eur": expected_cost(MODELS["openai"], 1234, 567)}
    chunks = list(gateway.client(pro.key).chat.completions.create(**body))
    assert Decimal(str(chunks[-1].model_extra["aqta"]["cost_eur"])) == \
        expected_cost(MODELS["openai"], 1234, 567)


def test_the_keyless_mock_provider_answers_without_settings_of_its_own(make_app, make_account):
    """An app built without a ``mock`` entry in its provider settings still serves mock-1."""
    client = make_app(providers={}).test_client()
    account = make_account(tier="pro")
    answer = client.post("/v1/chat/completions", headers=account.headers,
                         json={"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]})
    assert answer.status_code == 200, answer.json
    assert answer.json["aqta"]["provider"] == "mock"
