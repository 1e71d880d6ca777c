"""The Provider interface and the data it speaks.

A provider turns an OpenAI-format chat request into its upstream's wire format,
calls the upstream, and turns the answer (or each stream event) back into
OpenAI's format. Upstreams reached over HTTP share their skeleton in
``providers.http``; each provider module supplies only what differs.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens}


@dataclass(frozen=True)
class ChatRequest:
    """A validated OpenAI chat request, plus the model name the upstream knows.

    ``body`` is the client's request as OpenAI defines it (``model`` there is what the
    client asked for); ``model`` is the upstream's own name for it, after routing.
    """

    model: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ChatResponse:
    """An OpenAI ``chat.completion`` object (without Aqta's block) and its usage."""

    body: dict[str, Any]
    usage: Usage


@dataclass(frozen=True)
class ProviderSettings:
    api_key: str | None = None
    base_url: str | None = None
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 120.0  # seconds, between bytes, not for the whole answer
    pool_size: int = 1000  # connections kept open per upstream host (a gevent worker's concurrency)
    extra: dict[str, Any] = field(default_factory=dict)


class Provider:
    """One upstream behind OpenAI's chat format.

    ``chat`` returns the whole answer; ``stream`` yields OpenAI
    ``chat.completion.chunk`` dicts and must end with a chunk whose ``usage`` is
    set (``choices`` empty, as OpenAI sends with ``include_usage``) whenever the
    upstream reports usage. The stream is a generator: closing it closes the
    upstream connection at once. Which models a provider serves is the model
    registry's business, not the provider's.
    """

    name: str = "base"

    def __init__(self, settings: ProviderSettings):
        self.settings = settings

    def chat(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> Iterator[dict]:
        raise NotImplementedError
