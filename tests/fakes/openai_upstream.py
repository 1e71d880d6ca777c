"""Loopback fakes of OpenAI's and Perplexity's chat completions APIs.

``FakeOpenAI`` answers ``POST /v1/chat/completions`` (JSON, or SSE ending with
``data: [DONE]``, tool-call arguments streamed in pieces, a usage chunk when
``stream_options.include_usage``) and ``GET /v1/models``. ``FakePerplexity``
adds ``citations``, ``search_results`` and Perplexity's usage, streamed the way
Perplexity streams (usage and search fields on content chunks, no usage chunk).
Tests change the canned answer with ``answer(...)``; ``reset()`` restores it.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from tests.fakes.server import FakeUpstream, Received, Reply, StreamReply

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo")
CREATED = 1_717_000_000  # a fixed timestamp keeps answers deterministic

# OpenAI's error (type, code) by HTTP status.
_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


@dataclass
class Canned:
    """What the fake answers. ``tool_name`` set: call that tool whenever tools are offered."""

    text: str = "Hello from the fake upstream, answering deterministically."
    tool_name: str | None = None
    tool_arguments: dict[str, Any] = field(default_factory=lambda: {"city": "Dublin"})
    prompt_tokens: int = 12
    completion_tokens: int = 9
    citations: list[str] = field(default_factory=lambda: [
        "https://en.wikipedia.org/wiki/Dublin", "https://www.visitdublin.com/"])
    search_results: list[dict[str, Any]] = field(default_factory=lambda: [
        {"title": "Dublin - Wikipedia", "url": "https://en.wikipedia.org/wiki/Dublin",
         "date": "2024-05-01", "last_updated": "2025-01-10", "snippet": "Dublin is the capital.",
         "source": "web"},
        {"title": "Visit Dublin", "url": "https://www.visitdublin.com/",
         "date": None, "last_updated": "2025-02-02", "snippet": "", "source": "web"}])


def openai_error(status: int, message: str, param: str | None = None) -> dict:
    kind, code = _ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error",
                                      None))
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class FakeOpenAI(FakeUpstream):
    """OpenAI's chat completions wire format on loopback; see the module docstring."""

    models_listed: tuple[str, ...] = MODELS

    def __init__(self):
        super().__init__()
        self.canned = Canned()
        self.chunk_delay = 0.0  # seconds between stream events
        self.completed_streams = 0  # streams whose every chunk was written (counted before [DONE])
        self.aborted_streams = 0  # streams the client (or a break) cut short
        self._stream_error_after: int | None = None
        self._lock = threading.Lock()
        self._generation = 0  # bumped by reset(): a stream counts only in the test it began in

    # -- what tests call ------------------------------------------------------------
    def answer(self, **changes: Any) -> None:
        """Change the canned answer: text, tool_name, tool_arguments, token counts, ..."""
        self.canned = replace(self.canned, **changes)

    def error_mid_stream(self, after: int = 2) -> None:
        """Make the next stream send an ``{"error": ...}`` event after ``after`` chunks."""
        self._stream_error_after = after

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._generation += 1
            self.completed_streams = self.aborted_streams = 0
        self.canned = Canned()
        self.chunk_delay = 0.0
        self._stream_error_after = None

    def error_body(self, status: int) -> Any:
        return openai_error(status, f"injected failure {status}")

    # -- the API --------------------------------------------------------------------
    def handle(self, request: Received) -> Reply | StreamReply:
        path = request.path.rstrip("/")
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return Reply(openai_error(401, "You didn't provide an API key."), 401)
        if request.method == "GET" and path.endswith("/models") and self.models_listed:
            return Reply({"object": "list", "data": [
                {"id": name, "object": "model", "created": CREATED, "owned_by": "system"}
                for name in self.models_listed]})
        if request.method == "POST" and path.endswith("/chat/completions"):
            return self.chat(request.body)
        return Reply(openai_error(404, f"Unknown request URL: {request.method} {path}."), 404)

    def chat(self, body: Any) -> Reply | StreamReply:
        if not isinstance(body, dict):
            return Reply(openai_error(400, "We could not parse the JSON body of your request."), 400)
        for name in ("model", "messages"):
            if not body.get(name):
                return Reply(openai_error(400, f"Missing required parameter: '{name}'.", name), 400)
        if body.get("stream_options") and not body.get("stream"):
            return Reply(openai_error(400, "The 'stream_options' parameter is only allowed when "
                                           "'stream' is enabled.", "stream_options"), 400)
        if body.get("metadata") is not None and not body.get("store"):
            return Reply(openai_error(400, "The 'metadata' parameter is only allowed when 'store' is "
                                           "enabled.", "metadata"), 400)
        if body.get("stream"):
            return StreamReply(self._events(self.chunks(body), self._generation),
                               delay=self.chunk_delay)
        return Reply(self.completion(body))

    def tool_call(self, body: dict) -> tuple[str, str] | None:
        """(function name, arguments JSON) when this request gets a tool call, else None."""
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        choice = body.get("tool_choice")
        if not tools or choice == "none":
            return None
        if isinstance(choice, dict):
            name = choice.get("function", {}).get("name")
        elif choice == "required":
            name = self.canned.tool_name if self.canned.tool_name in tools else tools[0]
        else:
            name = self.canned.tool_name
        return (name, json.dumps(self.canned.tool_arguments)) if name else None

    def usage(self, completion_tokens: int | None = None) -> dict:
        prompt = self.canned.prompt_tokens
        completion = self.canned.completion_tokens if completion_tokens is None else completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def head(self, body: dict, kind: str) -> dict:
        return {"id": "chatcmpl-fake0123456789", "object": kind, "created": CREATED,
                "model": body["model"], "service_tier": "default",
                "system_fingerprint": "fp_fake"}

    def completion(self, body: dict) -> dict:
        call = self.tool_call(body)
        message: dict[str, Any] = {"role": "assistant", "content": None if call else self.canned.text,
                                   "refusal": None, "annotations": []}
        if call:
            message["tool_calls"] = [{"id": "call_fake0001", "type": "function",
                                      "function": {"name": call[0], "arguments": call[1]}}]
        choices = [{"index": i, "message": message, "logprobs": None,
                    "finish_reason": "tool_calls" if call else "stop"}
                   for i in range(body.get("n") or 1)]
        return {**self.head(body, "chat.completion"), "choices": choices, "usage": self.usage()}

    def chunks(self, body: dict) -> Iterator[dict]:
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if with_usage else {}
        head = self.head(body, "chat.completion.chunk")

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish_reason}], **extra}

        call = self.tool_call(body)
        if call:
            name, arguments = call
            yield chunk({"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                {"index": 0, "id": "call_fake0001", "type": "function",
                 "function": {"name": name, "arguments": ""}}]})
            for start in range(0, len(arguments), 8):
                yield chunk({"tool_calls": [{"index": 0, "function": {
                    "arguments": arguments[start:start + 8]}}]})
        else:
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            for piece in word_pieces(self.canned.text):
                yield chunk({"content": piece})
        yield chunk({}, "tool_calls" if call else "stop")
        if with_usage:
            yield {**head, "choices": [], "usage": self.usage()}

    def _events(self, chunks: Iterator[dict], generation: int) -> Iterator[tuple[str | None, str]]:
        """The stream's events, counted once it ends.

        A stream is counted complete before ``[DONE]`` goes out: a client that stops
        reading at ``[DONE]`` (as the openai SDK does) may look at the count at once.
        A stream still running when its test ended counts for no later test.
        """
        error_after, self._stream_error_after = self._stream_error_after, None
        finished = False
        try:
            for index, chunk in enumerate(chunks):
                if error_after is not None and index == error_after:
                    yield None, json.dumps(openai_error(500, "The server had an error while "
                                                             "processing your request."))
                    return
                yield None, json.dumps(chunk)
            finished = True
            self._count(generation, completed=True)
            yield None, "[DONE]"
        finally:
            if not finished:
                self._count(generation, completed=False)

    def _count(self, generation: int, *, completed: bool) -> None:
        with self._lock:
            if generation != self._generation:
                return
            if completed:
                self.completed_streams += 1
            else:
                self.aborted_streams += 1


def word_pieces(text: str) -> list[str]:
    """``text`` as streamed content pieces, one word each, that join back exactly."""
    words = text.split(" ")
    return [words[0]] + [" " + word for word in words[1:]] if text else []


class FakePerplexity(FakeOpenAI):
    """Perplexity's Sonar chat completions: OpenAI's format plus search fields."""

    models_listed = ()  # Perplexity has no model listing

    def tool_call(self, body: dict) -> tuple[str, str] | None:
        return None

    def error_body(self, status: int) -> Any:
        return {"error": {"message": f"injected failure {status}", "type": "api_error",
                          "code": status}}

    def usage(self, completion_tokens: int | None = None) -> dict:
        prompt = self.canned.prompt_tokens
        completion = self.canned.completion_tokens if completion_tokens is None else completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion, "search_context_size": "low",
                "cost": {"input_tokens_cost": 0.0, "output_tokens_cost": 0.0,
                         "request_cost": 0.005, "total_cost": 0.005}}

    def search_fields(self) -> dict:
        return {"citations": list(self.canned.citations),
                "search_results": [dict(r) for r in self.canned.search_results]}

    def completion(self, body: dict) -> dict:
        return {"id": "b2a6f1d0-4f0e-4c57-9d8e-fake00000001", "model": body["model"],
                "created": CREATED, "usage": self.usage(), **self.search_fields(),
                "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": self.canned.text}}]}

    def chunks(self, body: dict) -> Iterator[dict]:
        pieces = word_pieces(self.canned.text)
        so_far = ""
        for number, piece in enumerate(pieces, start=1):
            so_far += piece
            last = number == len(pieces)
            # Like Perplexity: running usage and the search fields on every chunk, plus the
            # server-aggregated message next to the delta.
            completion = (self.canned.completion_tokens if last
                          else max(1, self.canned.completion_tokens * number // len(pieces)))
            yield {"id": "b2a6f1d0-4f0e-4c57-9d8e-fake00000001", "model": body["model"],
                   "created": CREATED, "usage": self.usage(completion), **self.search_fields(),
                   "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "finish_reason": "stop" if last else None,
                                "message": {"role": "assistant", "content": so_far},
                                "delta": {"role": "assistant", "content": piece}}]}
