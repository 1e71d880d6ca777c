"""A built-in offline provider for demos, tests and benchmarks: no network, no key.

Answers are deterministic (derived from the last user message, so the same
request always gets the same words), their length, chunking and latency are set
in ``ProviderSettings.extra``, and streams look exactly like OpenAI's with
``include_usage``. A forced ``tool_choice`` yields a tool call, so tool demos
work offline too.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from providers.base import ChatRequest, ChatResponse, Provider, ProviderSettings, Usage
from providers.errors import UnsupportedRequest
from providers.openai_format import completion_chunk, delta_choice, message_text, usage_chunk

MODEL_PREFIX = "mock-"
TOOL_CALL_TOKENS = 8  # completion tokens charged for one tool call
MAX_CHOICES = 128  # OpenAI's limit on ``n``

# Filler words, picked by digest bytes: plain and easy to read in a demo.
_VOCABULARY = (
    "the", "gateway", "answers", "every", "request", "with", "a", "steady", "and",
    "predictable", "reply", "so", "tests", "demos", "benchmarks", "can", "rely", "on",
    "it", "without", "network", "access", "or", "keys", "each", "word", "counts", "as",
    "one", "token", "here", "today",
)


@dataclass(frozen=True)
class MockSettings:
    """How the mock answers, from ``ProviderSettings.extra``."""

    response_words: int = 20  # words (= completion tokens) per answer, before max_tokens
    chunk_count: int | None = None  # content chunks per streamed answer; None = one per word
    latency_ms: int = 0  # milliseconds before the first token
    chunk_delay_ms: int = 0  # milliseconds between streamed chunks

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> MockSettings:
        def number(key: str, default: int | None, minimum: int) -> int | None:
            value = extra.get(key, default)
            if value is None:
                return None
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"mock provider: '{key}' must be a whole number, got {value!r}") from None
            if value < minimum:
                raise ValueError(f"mock provider: '{key}' must be at least {minimum}, got {value}")
            return value

        return cls(response_words=number("response_words", 20, 0),
                   chunk_count=number("chunk_count", None, 1),
                   latency_ms=number("latency_ms", 0, 0),
                   chunk_delay_ms=number("chunk_delay_ms", 0, 0))


@dataclass(frozen=True)
class _Choice:
    index: int
    content: str | None
    tool_call: dict[str, Any] | None
    finish_reason: str
    tokens: int


# -- pure answer building ---------------------------------------------------------------
def count_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough, deterministic prompt size: the words in every message's text."""
    return sum(len(message_text(m.get("content")).split())
               for m in body.get("messages") or [] if isinstance(m, dict))


def answer_words(seed: str, count: int) -> list[str]:
    """``count`` words, the same for the same seed: a tag from its digest, then filler."""
    digest = hashlib.sha256(seed.encode()).digest()
    words = ["Mock", "answer", f"{digest.hex()[:8]}:"]
    while len(words) < count:
        for byte in digest:
            words.append(_VOCABULARY[byte % len(_VOCABULARY)])
        digest = hashlib.sha256(digest).digest()
    return words[:count]


def word_limit(body: dict[str, Any], default: int) -> tuple[int, bool]:
    """How many words to answer with, and whether ``max_tokens`` cut the answer."""
    caps = [body[key] for key in ("max_tokens", "max_completion_tokens")
            if isinstance(body.get(key), int)]
    limit = min([default, *caps])
    return max(limit, 0), limit < default


def forced_tool(body: dict[str, Any]) -> str | None:
    """The function ``tool_choice`` forces (or the first tool when it is "required")."""
    choice = body.get("tool_choice")
    tools = [t.get("function", {}).get("name") for t in body.get("tools") or []
             if isinstance(t, dict)]
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if not name or name not in tools:
            raise UnsupportedRequest(f"tool_choice names function {name!r}, which is not in 'tools'.",
                                 field="tool_choice")
        return name
    if choice == "required" and tools:
        return tools[0]
    return None


def _seed(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return message_text(users[-1].get("content")) if users else ""


def _choices(request: ChatRequest, settings: MockSettings) -> list[_Choice]:
    body = request.body
    if not request.model.startswith(MODEL_PREFIX):
        raise UnsupportedRequest(f"The mock provider serves only '{MODEL_PREFIX}*' models, "
                             f"not {request.model!r}.", field="model")
    n = 1 if body.get("n") is None else body["n"]
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CHOICES:
        raise UnsupportedRequest(f"'n' must be a whole number from 1 to {MAX_CHOICES}.", field="n")
    tool = forced_tool(body)
    seed = _seed(body)
    count, cut = word_limit(body, settings.response_words)
    choices = []
    for index in range(n):
        choice_seed = f"{seed}#{index}" if index else seed
        if tool:
            digest = hashlib.sha256(f"{tool}|{choice_seed}".encode()).hexdigest()
            call = {"id": f"call_mock{digest[:20]}", "type": "function",
                    "function": {"name": tool, "arguments": "{}"}}
            choices.append(_Choice(index, None, call, "tool_calls", TOOL_CALL_TOKENS))
        else:
            words = answer_words(choice_seed, count)
            choices.append(_Choice(index, " ".join(words), None, "length" if cut else "stop",
                                   len(words)))
    return choices


def _identity(request: ChatRequest) -> str:
    blob = orjson.dumps([request.model, request.body], option=orjson.OPT_SORT_KEYS, default=str)
    return "chatcmpl-mock" + hashlib.sha256(blob).hexdigest()[:24]


def _usage(request: ChatRequest, choices: list[_Choice]) -> Usage:
    return Usage(prompt_tokens=count_prompt_tokens(request.body),
                 completion_tokens=sum(c.tokens for c in choices))


def mock_response(request: ChatRequest, settings: MockSettings, created: int) -> ChatResponse:
    """The whole ``chat.completion`` the mock gives for ``request``."""
    choices = _choices(request, settings)
    usage = _usage(request, choices)
    body = {
        "id": _identity(request), "object": "chat.completion", "created": created,
        "model": request.model, "system_fingerprint": "fp_mock",
        "choices": [{
            "index": c.index,
            "message": {"role": "assistant", "content": c.content, "refusal": None,
                        "annotations": [], **({"tool_calls": [c.tool_call]} if c.tool_call else {})},
            "logprobs": None, "finish_reason": c.finish_reason,
        } for c in choices],
        "usage": usage.as_openai(),
    }
    return ChatResponse(body=body, usage=usage)


def _pieces(text: str, chunk_count: int | None) -> list[str]:
    """``text`` split on word boundaries into at most ``chunk_count`` pieces that join back."""
    words = text.split(" ") if text else []
    if not words:
        return []
    count = min(chunk_count or len(words), len(words))
    size, extra = divmod(len(words), count)
    pieces, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append((" " if start else "") + " ".join(words[start:end]))
        start = end
    return pieces


def mock_chunks(request: ChatRequest, settings: MockSettings, created: int) -> Iterator[dict]:
    """The ``chat.completion.chunk`` dicts of the streamed answer, OpenAI's order and shape."""
    choices = _choices(request, settings)
    usage = _usage(request, choices)
    head = (_identity(request), created, request.model)

    def choice_chunk(index: int, delta: dict, finish_reason: str | None = None) -> dict:
        return completion_chunk(*head, [delta_choice(index, delta, finish_reason)],
                                system_fingerprint="fp_mock", usage=None)

    for c in choices:
        if c.tool_call:
            call = c.tool_call
            yield choice_chunk(c.index, {"role": "assistant", "content": None, "refusal": None,
                                  "tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                  "function": {"name": call["function"]["name"],
                                                               "arguments": ""}}]})
            yield choice_chunk(c.index, {"tool_calls": [{"index": 0, "function": {
                "arguments": call["function"]["arguments"]}}]})
        else:
            yield choice_chunk(c.index, {"role": "assistant", "content": "", "refusal": None})
            for piece in _pieces(c.content or "", settings.chunk_count):
                yield choice_chunk(c.index, {"content": piece})
        yield choice_chunk(c.index, {}, c.finish_reason)
    yield usage_chunk(*head, usage.as_openai(), system_fingerprint="fp_mock")


# -- the provider ---------------------------------------------------------------------
class MockProvider(Provider):
    """Answers locally, after the configured delays (``time.sleep`` yields under gevent)."""

    name = "mock"

    def __init__(self, settings: ProviderSettings):
        super().__init__(settings)
        self.mock = MockSettings.from_extra(settings.extra)

    def chat(self, request: ChatRequest) -> ChatResponse:
        response = mock_response(request, self.mock, int(time.time()))
        _sleep_ms(self.mock.latency_ms)
        return response

    def stream(self, request: ChatRequest) -> Iterator[dict]:
        for number, chunk in enumerate(mock_chunks(request, self.mock, int(time.time()))):
            _sleep_ms(self.mock.chunk_delay_ms if number else self.mock.latency_ms)
            yield chunk


def _sleep_ms(milliseconds: int) -> None:
    if milliseconds:
        time.sleep(milliseconds / 1000)
