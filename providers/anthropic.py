"""Claude models through Anthropic's Messages API (``POST /v1/messages``).

Request and answer translation are the pure functions of ``providers.anthropic_format``
(its docstring lists every gap between the two APIs); ``StreamTranslator`` here is
the pure state machine that turns Messages stream events into OpenAI chunks, and
``AnthropicProvider`` supplies the headers and paths the HTTP skeleton needs.
"""
from __future__ import annotations

import time
from typing import Any

from providers.anthropic_format import (
    JSON_TOOL,
    PROVIDER,
    finish_reason,
    from_anthropic,
    to_anthropic,
    usage_from,
    wants_json,
)
from providers.base import ChatRequest, ChatResponse, Usage
from providers.errors import ProviderError
from providers.http import HttpProvider
from providers.openai_format import completion_chunk, delta_choice, usage_chunk
from providers.sse import event_object

ANTHROPIC_VERSION = "2023-06-01"


class StreamTranslator:
    """A state machine fed Anthropic stream events; each ``feed`` returns OpenAI chunks.

    One instance per stream. Tool calls are numbered from 0 in the order their blocks
    start, as OpenAI numbers them; text and thinking blocks do not count.
    """

    def __init__(self, *, json_mode: bool = False, created: int | None = None):
        self.json_mode = json_mode
        self.created = int(time.time()) if created is None else created
        self.id: str | None = None
        self.model: str | None = None
        self.usage = Usage()
        self.done = False
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index
        self._json_blocks: set[int] = set()

    def feed(self, event: str | None, data: str) -> list[dict]:
        payload = event_object(data, PROVIDER)
        kind = payload.get("type") or event
        if kind == "error":
            error = payload.get("error") or {}
            raise ProviderError(PROVIDER, upstream_message=f"{error.get('type')}: "
                                                           f"{error.get('message')}")
        handler = {"message_start": self._message_start,
                   "content_block_start": self._block_start,
                   "content_block_delta": self._block_delta,
                   "message_delta": self._message_delta,
                   "message_stop": self._message_stop}.get(kind)
        return handler(payload) if handler else []  # ping, content_block_stop, new types

    def finish(self) -> list[dict]:
        """Call when the upstream stream ends: a stream without message_stop broke."""
        if not self.done:
            raise ProviderError(PROVIDER, upstream_message="stream ended before message_stop")
        return []

    def _chunk(self, delta: dict, finish: str | None = None) -> dict:
        return completion_chunk(self.id, self.created, self.model, [delta_choice(0, delta, finish)])

    def _message_start(self, payload: dict) -> list[dict]:
        message = payload.get("message") or {}
        self.id, self.model = message.get("id"), message.get("model")
        self.usage = usage_from(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, payload: dict) -> list[dict]:
        index, block = payload.get("index"), payload.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        if self.json_mode and block.get("name") == JSON_TOOL:
            self._json_blocks.add(index)
            return []
        self._tools[index] = position = len(self._tools)
        call = {"index": position, "id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"), "arguments": ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, payload: dict) -> list[dict]:
        index, delta = payload.get("index"), payload.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        piece = delta.get("partial_json") if delta.get("type") == "input_json_delta" else None
        if not piece:
            return []
        if index in self._json_blocks:
            return [self._chunk({"content": piece})]
        if index in self._tools:
            call = {"index": self._tools[index], "function": {"arguments": piece}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _message_delta(self, payload: dict) -> list[dict]:
        usage = payload.get("usage") or {}
        prompt = self.usage.prompt_tokens
        if usage.get("input_tokens") is not None:  # newer API versions report it here too
            prompt = usage_from(usage).prompt_tokens
        self.usage = Usage(prompt, usage.get("output_tokens") or self.usage.completion_tokens)
        reason = finish_reason((payload.get("delta") or {}).get("stop_reason"))
        if reason == "tool_calls" and not self._tools:
            reason = "stop"  # only the JSON tool was used
        return [self._chunk({}, reason)] if reason else []

    def _message_stop(self, payload: dict) -> list[dict]:
        self.done = True
        return [usage_chunk(self.id, self.created, self.model, self.usage.as_openai())]


class AnthropicProvider(HttpProvider):
    """Claude models through ``POST /v1/messages``."""

    name = PROVIDER
    default_base_url = "https://api.anthropic.com"

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        return headers

    def chat_path(self, request: ChatRequest) -> str:
        return "/v1/messages"

    def to_upstream(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return to_anthropic(request, stream=stream)

    def from_upstream(self, body: Any, request: ChatRequest) -> ChatResponse:
        return from_anthropic(body, json_mode=wants_json(request.body))

    def stream_translator(self, request: ChatRequest) -> StreamTranslator:
        return StreamTranslator(json_mode=wants_json(request.body))
