"""Google Gemini behind OpenAI's chat format, through the Gemini API (``generativelanguage``).

``GoogleProvider`` calls ``models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` with the key in ``x-goog-api-key``. Request and
answer translation are the pure functions of ``providers.gemini_format`` (its
docstring lists every gap); ``StreamTranslator`` here is the pure state machine
that turns stream events into OpenAI chunks.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from providers.base import ChatRequest, ChatResponse
from providers.errors import ProviderError
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
from providers.http import HttpProvider
from providers.openai_format import completion_chunk, delta_choice, usage_chunk
from providers.sse import event_object


class StreamTranslator:
    """Turns Gemini stream events (partial ``GenerateContentResponse``s) into OpenAI chunks.

    Feed each event to ``feed``; call ``finish`` when the upstream stream ends, which
    yields the usage chunk and raises if the answer stopped half-way. Gemini sends
    whole function calls, so each becomes one tool-call delta with its full arguments.
    """

    def __init__(self, model: str, created: int):
        self.model = model
        self.created = created
        self.id: str | None = None
        # candidate index -> tool calls sent so far; a choice has started once it is a key
        self._tool_calls: dict[int, int] = {}
        self._finished: set[int] = set()
        self._usage: dict | None = None

    def feed(self, event: str | None, data: str) -> list[dict]:
        response = event_object(data, PROVIDER)
        if "error" in response:
            raise upstream_error(response["error"])
        self.id = self.id or response.get("responseId") or new_completion_id()
        self.model = response.get("modelVersion") or self.model
        self._usage = response.get("usageMetadata") or self._usage
        candidates = response.get("candidates") or []
        if not candidates and (response.get("promptFeedback") or {}).get("blockReason"):
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
        return [usage_chunk(self.id, self.created, self.model, usage_body(self._usage))]

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
        return [self._chunk(index, delta, None, logprobs(logprobs_result))]

    def _chunk(self, index: int, delta: dict, reason: str | None,
               choice_logprobs: dict | None = None) -> dict:
        return completion_chunk(self.id, self.created, self.model,
                     [delta_choice(index, delta, reason, choice_logprobs)])


class GoogleProvider(HttpProvider):
    """Gemini models through the Gemini API's ``generateContent`` endpoints."""

    name = PROVIDER
    default_base_url = "https://generativelanguage.googleapis.com"

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.settings.api_key} if self.settings.api_key else {}

    def chat_path(self, request: ChatRequest) -> str:
        return self._path(request.model, "generateContent")

    def stream_path(self, request: ChatRequest) -> str:
        return self._path(request.model, "streamGenerateContent") + "?alt=sse"

    def to_upstream(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return to_gemini_request(request.body)

    def from_upstream(self, body: Any, request: ChatRequest) -> ChatResponse:
        return from_gemini_response(body, model=request.model, created=int(time.time()))

    def stream_translator(self, request: ChatRequest) -> StreamTranslator:
        return StreamTranslator(request.model, int(time.time()))

    @staticmethod
    def _path(model: str, method: str) -> str:
        model = model.removeprefix("models/")
        return f"/v1beta/models/{quote(model, safe='')}:{method}"
