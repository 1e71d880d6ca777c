"""OpenAI's chat completions API, and the base for every OpenAI-compatible upstream.

The wire format is already ours, so translation is mostly a copy: the request gets
the upstream's model name (and, when streaming, asks for the usage chunk), the
answer is checked and its usage read. Streams are normalised so that they always
end with a ``choices: []`` chunk carrying usage, whatever the compatible upstream
does (Perplexity, for one, puts usage on its content chunks).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from providers.base import ChatRequest, ChatResponse, Usage
from providers.errors import ProviderError
from providers.http import HttpProvider
from providers.openai_format import usage_chunk
from providers.sse import event_object

DONE = "[DONE]"


# -- pure translation -----------------------------------------------------------------
def to_upstream_request(request: ChatRequest, *, stream: bool,
                        include_usage: bool = True) -> dict[str, Any]:
    """The body to POST upstream: the client's body with the upstream model name.

    When streaming, ``stream_options.include_usage`` is forced on (if the upstream
    understands it) so the gateway always learns the usage; when not streaming,
    ``stream_options`` is dropped because OpenAI rejects it without ``stream``.
    ``metadata`` goes upstream only with ``store``: OpenAI refuses it otherwise, and it
    is where a client declares to Aqta a decision type or a patient's group, which the
    upstream needs only when the client asks it to store the completion.
    """
    body = dict(request.body)  # only top-level keys change (stream_options is copied below)
    body["model"] = request.model
    if stream:
        body["stream"] = True
        if include_usage:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    if not body.get("store"):
        body.pop("metadata", None)
    return body


def usage_from(usage: dict[str, Any] | None) -> Usage:
    """Our ``Usage`` from an OpenAI ``usage`` object (missing or null counts as zero)."""
    usage = usage or {}
    return Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                 completion_tokens=int(usage.get("completion_tokens") or 0))


def from_upstream_response(body: Any, provider: str) -> ChatResponse:
    """A ``ChatResponse`` from an upstream ``chat.completion`` body, kept whole.

    Extra top-level fields (Perplexity's ``citations``, say) stay in the body.
    """
    if not isinstance(body, dict):
        raise ProviderError(provider, upstream_status=200,
                            upstream_message=f"expected a JSON object, got {type(body).__name__}")
    if isinstance(body.get("error"), dict):
        raise ProviderError(provider, upstream_status=200,
                            upstream_message=str(body["error"].get("message") or body["error"]))
    if not isinstance(body.get("choices"), list):
        raise ProviderError(provider, upstream_status=200,
                            upstream_message="answer has no 'choices' list")
    return ChatResponse(body=body, usage=usage_from(body.get("usage")))


def parse_stream_data(data: str, provider: str) -> dict[str, Any] | None:
    """One SSE ``data`` payload as a chunk dict; None for the ``[DONE]`` sentinel.

    An ``{"error": ...}`` payload (OpenAI sends one when it fails mid-stream) and
    anything that is not a JSON object raise ProviderError.
    """
    if data.strip() == DONE:
        return None
    chunk = event_object(data, provider)
    error = chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise ProviderError(provider, upstream_message=str(message or error))
    return chunk


@dataclass
class StreamState:
    """What a stream has shown so far, to close it correctly."""

    id: str | None = None
    created: int | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None  # usage seen on a content chunk, not yet sent
    usage_sent: bool = False  # a ``choices: []`` usage chunk went out
    finished: bool = False  # a finish_reason or [DONE] was seen
    extras: dict[str, Any] = field(default_factory=dict)  # kept top-level fields, latest value


def normalize_chunk(chunk: dict[str, Any], state: StreamState,
                    keep_fields: Iterable[str] = ()) -> dict[str, Any]:
    """An upstream chunk made into an OpenAI ``chat.completion.chunk``; updates ``state``.

    Usage found on a chunk that has choices is held back for the closing usage
    chunk; a server-aggregated ``message`` inside a streamed choice is dropped
    (only ``delta`` is OpenAI's); ``keep_fields`` are remembered for the close.
    """
    chunk["object"] = "chat.completion.chunk"
    state.id = state.id or chunk.get("id")
    state.created = state.created or chunk.get("created")
    state.model = state.model or chunk.get("model")
    choices = chunk.get("choices") or []
    for choice in choices:
        choice.pop("message", None)
        choice.setdefault("delta", {})
        if choice.get("finish_reason"):
            state.finished = True
    if chunk.get("usage"):
        if choices:
            state.usage = chunk.pop("usage")
        else:
            state.usage_sent = True
            state.usage = None
    for name in keep_fields:
        if chunk.get(name) is not None:
            state.extras[name] = chunk[name]
    return chunk


def closing_usage_chunk(state: StreamState) -> dict[str, Any] | None:
    """The ``choices: []`` usage chunk to end the stream with, if the upstream sent none."""
    if state.usage_sent or not state.usage:
        return None
    return usage_chunk(state.id, state.created, state.model, state.usage, **state.extras)


class StreamTranslator:
    """Makes an OpenAI-compatible stream OpenAI's own: normalised chunks, then the usage chunk.

    Events after ``[DONE]`` are read and dropped, so the connection can go back to the pool.
    """

    def __init__(self, provider: str, keep_fields: Iterable[str] = ()):
        self.provider = provider
        self.keep_fields = tuple(keep_fields)
        self.state = StreamState()
        self.done = False

    def feed(self, event: str | None, data: str) -> list[dict]:
        if self.done:
            return []
        chunk = parse_stream_data(data, self.provider)
        if chunk is None:
            self.done = self.state.finished = True
            return []
        return [normalize_chunk(chunk, self.state, self.keep_fields)]

    def finish(self) -> list[dict]:
        if not self.state.finished:
            raise ProviderError(self.provider, upstream_message="stream ended before it finished")
        closing = closing_usage_chunk(self.state)
        return [closing] if closing else []


# -- the provider ---------------------------------------------------------------------
class OpenAIProvider(HttpProvider):
    """OpenAI, or any upstream that speaks its chat completions API."""

    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    send_stream_options = True  # does the upstream understand ``stream_options``?
    keep_fields: tuple[str, ...] = ()  # extra top-level fields repeated on the usage chunk

    def headers(self) -> dict[str, str]:
        key = self.settings.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def chat_path(self, request: ChatRequest) -> str:
        return "/chat/completions"

    def to_upstream(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return to_upstream_request(request, stream=stream, include_usage=self.send_stream_options)

    def from_upstream(self, body: Any, request: ChatRequest) -> ChatResponse:
        return from_upstream_response(body, self.name)

    def stream_translator(self, request: ChatRequest) -> StreamTranslator:
        return StreamTranslator(self.name, self.keep_fields)
