"""A loopback fake of the Gemini API: ``generateContent`` and ``streamGenerateContent?alt=sse``.

It answers with a canned ``Answer`` (text, function calls, a finish reason, token
counts) in Gemini's camelCase wire format; streams are server-sent events whose
data are partial ``GenerateContentResponse`` objects, the last one carrying the
finish reason and the full ``usageMetadata``. Errors use Google's shape
``{"error": {"code", "message", "status"}}``. ``tests/providers/test_gemini_fake.py``
checks all of this with the official ``google-genai`` SDK.
"""
from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import FakeUpstream, Received, Reply, StreamReply

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_PATH = re.compile(r"^/(v1|v1beta)/models/(?P<model>[^/:]+)"
                   r":(?P<method>generateContent|streamGenerateContent)$")


def google_error(code: int, message: str) -> dict:
    """An error body as Google APIs send it."""
    return {"error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}}


@dataclass
class Answer:
    """What the fake model says next: Gemini parts, a finish reason and token counts."""

    parts: list[dict] = field(default_factory=lambda: [{"text": "Hello from the fake Gemini."}])
    finish_reason: str | None = "STOP"
    prompt_tokens: int = 9
    output_tokens: int = 6
    thoughts_tokens: int = 0
    block_reason: str | None = None  # the prompt is blocked: no candidates at all
    stream_error: dict | None = None  # an error object sent in the stream after the first event

    @classmethod
    def text(cls, text: str, **kwargs: Any) -> Answer:
        return cls(parts=[{"text": text}], **kwargs)

    @classmethod
    def function_calls(cls, *calls: tuple[str, dict], thought_signature: str | None = None,
                       **kwargs: Any) -> Answer:
        """Function calls in one turn; a signature, if given, rides on the first (as Gemini does)."""
        parts: list[dict] = [{"functionCall": {"name": name, "args": args}} for name, args in calls]
        if thought_signature and parts:
            parts[0]["thoughtSignature"] = thought_signature
        return cls(parts=parts, **kwargs)

    @classmethod
    def blocked(cls, reason: str = "SAFETY", **kwargs: Any) -> Answer:
        return cls(parts=[], finish_reason=None, block_reason=reason, **kwargs)


class FakeGemini(FakeUpstream):
    """The Gemini API on 127.0.0.1; set ``answer`` to choose what it says next."""

    def __init__(self, chunk_chars: int = 8):
        super().__init__()
        self.chunk_chars = chunk_chars  # stream text in pieces of this many characters
        self.answer = Answer()

    def reset(self) -> None:
        super().reset()
        self.answer = Answer()

    def error_body(self, status: int) -> Any:
        return google_error(status, f"injected failure {status}")

    def handle(self, request: Received) -> Reply | StreamReply:
        match = _PATH.match(request.path)
        if request.method != "POST" or not match:
            return Reply(google_error(404, f"Method not found: {request.path}"), 404)
        if not request.headers.get("x-goog-api-key") and not request.query.get("key"):
            return Reply(google_error(403, "Method doesn't allow unregistered callers. "
                                           "Please use API Key or other form of API consumer "
                                           "identity to call this API."), 403)
        body = request.body
        if not isinstance(body, dict) or not body.get("contents"):
            return Reply(google_error(400, "* GenerateContentRequest.contents: "
                                           "contents is not specified"), 400)
        model = match["model"]
        count = (body.get("generationConfig") or {}).get("candidateCount") or 1
        if match["method"] == "generateContent":
            return Reply(self.response(model, count))
        if request.query.get("alt") != ["sse"]:
            return Reply(google_error(400, "this fake streams only with alt=sse"), 400)
        return StreamReply((None, json.dumps(event)) for event in self.stream_events(model, count))

    # -- wire format -------------------------------------------------------------------
    def response(self, model: str, count: int = 1) -> dict:
        """The whole answer as one ``GenerateContentResponse``."""
        answer = self.answer
        reply = self._envelope(model, _response_id())
        reply["usageMetadata"] = self._usage(count, final=True)
        if answer.block_reason:
            reply["promptFeedback"] = {"blockReason": answer.block_reason}
            return reply
        reply["candidates"] = [_candidate(index, answer.parts, answer.finish_reason)
                               for index in range(count)]
        return reply

    def stream_events(self, model: str, count: int = 1) -> Iterator[dict]:
        """The answer as partial responses: text in pieces, each function call whole."""
        answer, response_id = self.answer, _response_id()
        if answer.block_reason:
            yield {"promptFeedback": {"blockReason": answer.block_reason},
                   "usageMetadata": self._usage(count, final=True),
                   **self._envelope(model, response_id)}
            return
        pieces = list(self._pieces(answer.parts))
        for number, part in enumerate(pieces or [None]):
            last = number == len(pieces) - 1 or not pieces
            parts = [part] if part else []
            yield {"candidates": [_candidate(index, parts, answer.finish_reason if last else None)
                                  for index in range(count)],
                   "usageMetadata": self._usage(count, final=last),
                   **self._envelope(model, response_id)}
            if answer.stream_error:
                yield {"error": answer.stream_error}
                return

    def _pieces(self, parts: list[dict]) -> Iterator[dict]:
        for part in parts:
            text = part.get("text")
            if text is None or len(text) <= self.chunk_chars:
                yield part
                continue
            for start in range(0, len(text), self.chunk_chars):
                yield {**part, "text": text[start:start + self.chunk_chars]}

    def _usage(self, count: int, *, final: bool) -> dict:
        answer = self.answer
        usage: dict[str, Any] = {"promptTokenCount": answer.prompt_tokens,
                                 "totalTokenCount": answer.prompt_tokens,
                                 "promptTokensDetails": [{"modality": "TEXT",
                                                          "tokenCount": answer.prompt_tokens}]}
        if final and not answer.block_reason:
            usage["candidatesTokenCount"] = answer.output_tokens * count
            usage["totalTokenCount"] += answer.output_tokens * count + answer.thoughts_tokens
            if answer.thoughts_tokens:
                usage["thoughtsTokenCount"] = answer.thoughts_tokens
        return usage

    @staticmethod
    def _envelope(model: str, response_id: str) -> dict:
        return {"modelVersion": model, "responseId": response_id}


def _candidate(index: int, parts: list[dict], finish_reason: str | None) -> dict:
    candidate: dict[str, Any] = {"index": index}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    if finish_reason:
        candidate["finishReason"] = finish_reason
    return candidate


def _response_id() -> str:
    return secrets.token_urlsafe(15)
