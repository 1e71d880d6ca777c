"""Google Gemini behind OpenAI's chat format, through the Gemini API (``generativelanguage``).

``GoogleProvider`` calls ``models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` with the key in ``x-goog-api-key``. Request and
answer translation are the pure functions of ``providers.gemini_format`` (its
docstring lists every gap); ``StreamTranslator`` here is the pure state machine
that turns stream events into OpenAI chunks.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from providers.base import ChatRequest, ChatResponse, HttpProvider, ProviderError
from providers.gemini_format import (
    PROVIDER,
    answer_text,
    finish_reason,
    from_gemini_response,
    logprobs,
    new_completion_id,
    to_gemini_request,
    tool_call,
    upstream_error,
    usage_body,
)

GEMINI_MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
                 "gemini-2.0-flash", "gemini-2.0-flash-lite")


class StreamTranslator:
    """Turns Gemini stream events (partial ``GenerateContentResponse``s) into OpenAI chunks.

    Feed each parsed event to ``feed``; call ``finish`` when the upstream stream ends,
    which yields the usage chunk and raises if the answer stopped half-way. Gemini
    sends whole function calls, so each becomes one tool-call delta with its full
    arguments.
    """

    def __init__(self, model: str, created: int):
        self.model = model
        self.created = created
        self.id: str | None = None
        # candidate index -> tool calls sent so far; a choice has started once it is a key
        self._tool_calls: dict[int, int] = {}
        self._finished: set[int] = set()
        self._usage: dict | None = None

    def feed(self, event: dict[str, Any]) -> list[dict]:
        if "error" in event:
            raise upstream_error(event["error"])
        self.id = self.id or event.get("responseId") or new_completion_id()
        self.model = event.get("modelVersion") or self.model
        self._usage = event.get("usageMetadata") or self._usage
        candidates = event.get("candidates") or []
        if not candidates and (event.get("promptFeedback") or {}).get("blockReason"):
            self._finished.add(0)
            return [*self._delta(0, [], None), self._chunk(0, {}, "content_filter")]
        chunks: list[dict] = []
        for position, candidate in enumerate(candidates):
            index = candidate.get("index", position)
            parts = (candidate.get("content") or {}).get("parts") or []
            chunks.extend(self._delta(index, parts, candidate.get("logprobsResult")))
            reason = candidate.get("finishReason")
            if reason:
                self._finished.add(index)
                has_tools = self._tool_calls[index] > 0
                chunks.append(self._chunk(index, {}, finish_reason(reason, has_tools)))
        return chunks

    def finish(self) -> list[dict]:
        """The final usage chunk; a ProviderError if any choice never finished."""
        if not self._tool_calls or set(self._tool_calls) - self._finished:
            raise ProviderError(PROVIDER, upstream_message="stream ended before the answer finished")
        if self._usage is None:
            return []
        return [{**self._envelope(), "choices": [], "usage": usage_body(self._usage)}]

    def _delta(self, index: int, parts: list[dict], logprobs_result: dict | None) -> list[dict]:
        delta: dict[str, Any] = {}
        text = answer_text(parts)
        calls = [tool_call(part) for part in parts if "functionCall" in part]
        if index not in self._tool_calls:
            self._tool_calls[index] = 0
            delta = {"role": "assistant", "content": "" if not calls else None}
        if text:
            delta["content"] = text
        if calls:
            first = self._tool_calls[index]
            delta["tool_calls"] = [{"index": first + n, **call} for n, call in enumerate(calls)]
            self._tool_calls[index] += len(calls)
        if not delta:
            return []
        chunk = self._chunk(index, delta, None)
        chunk["choices"][0]["logprobs"] = logprobs(logprobs_result)
        return [chunk]

    def _chunk(self, index: int, delta: dict, reason: str | None) -> dict:
        return {**self._envelope(), "choices": [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}]}

    def _envelope(self) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model}


class GoogleProvider(HttpProvider):
    """Gemini models through the Gemini API's ``generateContent`` endpoints."""

    name = "google"
    default_base_url = "https://generativelanguage.googleapis.com"

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.settings.api_key} if self.settings.api_key else {}

    def chat(self, request: ChatRequest) -> ChatResponse:
        payload = to_gemini_request(request.body)
        response = self.post(self._path(request.model, "generateContent"), payload)
        try:
            data = self.read_json(response)
        finally:
            response.close()
        return from_gemini_response(data, model=request.model, created=int(time.time()))

    def stream(self, request: ChatRequest) -> Iterator[dict]:
        payload = to_gemini_request(request.body)
        response = self.post(self._path(request.model, "streamGenerateContent") + "?alt=sse",
                             payload, stream=True)
        translator = StreamTranslator(request.model, int(time.time()))
        events = self.events(response)
        try:
            for _name, data in events:
                try:
                    event = json.loads(data)
                except ValueError as exc:
                    raise ProviderError(self.name, upstream_message=f"unreadable event: {data[:200]}"
                                        ) from exc
                yield from translator.feed(event)
            yield from translator.finish()
        finally:
            events.close()  # closes the upstream response, also when the client goes away
            response.close()

    def models(self) -> list[str]:
        return list(GEMINI_MODELS)

    @staticmethod
    def _path(model: str, method: str) -> str:
        model = model.removeprefix("models/")
        return f"/v1beta/models/{quote(model, safe='')}:{method}"
