"""PerplexityProvider: search fields and usage kept, streams closed with a usage chunk."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.base import ChatRequest, ProviderSettings, Usage
from providers.errors import ProviderError, ProviderTimeout
from providers.openai import from_upstream_response, to_upstream_request, usage_from
from providers.perplexity import PerplexityProvider
from tests.support.recorded import load_events, load_json

MESSAGES = [{"role": "user", "content": "How many stars are in the Milky Way?"}]


def chat_request(**body) -> ChatRequest:
    return ChatRequest(model="sonar", body={"model": "perplexity/sonar", "messages": MESSAGES,
                                            **body})


def relayed(events: list) -> Iterator[dict]:
    """What the provider makes of recorded upstream events."""
    provider = PerplexityProvider(ProviderSettings())
    return provider.relay(iter(events), provider.stream_translator(chat_request(stream=True)))


def provider_for(fake, **settings) -> PerplexityProvider:
    return PerplexityProvider(ProviderSettings(base_url=fake.url + "/v1", api_key="pplx-k",
                                               **settings))


def test_defaults():
    provider = PerplexityProvider(ProviderSettings(api_key="pplx-k"))
    assert (provider.name, provider.base_url) == ("perplexity", "https://api.perplexity.ai")
    assert provider.headers() == {"Authorization": "Bearer pplx-k"}


# -- (a) translation on recorded payloads -------------------------------------------------
def test_stream_request_does_not_send_stream_options():
    payload = to_upstream_request(chat_request(), stream=True,
                                  include_usage=PerplexityProvider.send_stream_options)
    assert payload == {"model": "sonar", "messages": MESSAGES, "stream": True}


def test_recorded_answer_keeps_search_fields_and_usage():
    response = from_upstream_response(load_json("perplexity_chat_response.json"), "perplexity")
    assert response.usage == Usage(14, 58)
    assert response.body["citations"][1] == "https://en.wikipedia.org/wiki/Milky_Way"
    assert response.body["search_results"][0]["date"] == "2023-03-01"
    assert response.body["usage"]["cost"]["total_cost"] == 0.005
    assert response.body["usage"]["search_context_size"] == "low"


def test_recorded_stream_is_made_openai_shaped():
    events = load_events("perplexity_stream.sse")
    chunks = list(relayed(events))
    content = [c for c in chunks if c["choices"]]
    assert "".join(c["choices"][0]["delta"]["content"] for c in content) == (
        "About 100 to 400 billion stars[1][2].")
    assert all("message" not in c["choices"][0] for c in content)  # Perplexity's aggregate
    assert all("usage" not in c for c in content)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["citations"] for c in content)  # kept where Perplexity sent them
    last = chunks[-1]
    assert last["choices"] == []
    assert usage_from(last["usage"]) == Usage(14, 9)  # the latest usage wins
    assert last["usage"]["cost"]["total_cost"] == 0.005
    assert len(last["citations"]) == 2 and len(last["search_results"]) == 2
    assert last["id"] == "5a1f0b9e-2c1d-4d5e-9f6a-7b8c9d0e1f2a"


def test_recorded_stream_without_usage_gets_no_usage_chunk():
    events = [(None, data.replace('"usage"', '"usage_elsewhere"'))
              for _, data in load_events("perplexity_stream.sse")]
    chunks = list(relayed(events))
    assert chunks
    assert all(c["choices"] for c in chunks)


# -- (b) end to end against the fake ---------------------------------------------------------
def test_chat_end_to_end_keeps_citations_and_search_results(perplexity_fake):
    response = provider_for(perplexity_fake).chat(chat_request())
    assert response.body["citations"] == perplexity_fake.canned.citations
    assert response.body["search_results"] == perplexity_fake.canned.search_results
    assert response.usage == Usage(12, 9)
    assert response.body["usage"]["search_context_size"] == "low"
    sent = perplexity_fake.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer pplx-k"
    assert sent.body["model"] == "sonar"


def test_stream_end_to_end(perplexity_fake):
    perplexity_fake.answer(text="Roughly 200 billion stars.", prompt_tokens=8, completion_tokens=5,
                           citations=["https://example.org/stars"])
    chunks = list(provider_for(perplexity_fake).stream(chat_request(stream=True)))
    assert "stream_options" not in perplexity_fake.received[-1].body
    content = [c for c in chunks if c["choices"]]
    assert "".join(c["choices"][0]["delta"]["content"] for c in content) == (
        "Roughly 200 billion stars.")
    assert all(c["citations"] == ["https://example.org/stars"] for c in chunks)
    assert content[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert usage_from(chunks[-1]["usage"]) == Usage(8, 5)
    assert chunks[-1]["search_results"][0]["title"] == "Dublin - Wikipedia"


# -- (c) error paths ---------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 429, 500])
def test_upstream_http_errors(perplexity_fake, status):
    perplexity_fake.fail_next(status=status)
    with pytest.raises(ProviderError) as caught:
        provider_for(perplexity_fake).chat(chat_request())
    error = caught.value
    assert (error.status, error.code, error.provider) == (502, "provider_error", "perplexity")
    assert (error.upstream_status, error.upstream_message) == (status, f"injected failure {status}")


def test_a_hanging_upstream_times_out(perplexity_fake):
    perplexity_fake.fail_next(hang=0.5)
    with pytest.raises(ProviderTimeout):
        next(provider_for(perplexity_fake, read_timeout=0.1).stream(chat_request()))


def test_a_broken_stream_raises_after_some_chunks(perplexity_fake):
    perplexity_fake.fail_next(break_after=2)
    stream = provider_for(perplexity_fake).stream(chat_request())
    assert len([next(stream), next(stream)]) == 2
    with pytest.raises(ProviderError):
        next(stream)
