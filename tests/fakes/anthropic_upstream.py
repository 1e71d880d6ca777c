"""A loopback fake of Anthropic's Messages API (``POST /v1/messages``), JSON and SSE.

It checks requests as strictly as the real API does where our translation could go
wrong (alternating roles, tool_result pairing, unknown fields, temperature range) and
answers in Anthropic's formats: a Message, the streaming event sequence with ``event:``
names, and ``{"type": "error", "error": {...}}`` errors. Tests choose the answer with
``answer(...)``; without one it says ``DEFAULT_TEXT``, or calls the tool that
``tool_choice`` forces with an input built from the tool's schema.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import FakeUpstream, Received, Reply, StreamReply

DEFAULT_TEXT = "Hello from the fake Anthropic."

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                402: "billing_error", 403: "permission_error", 404: "not_found_error",
                413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                529: "overloaded_error"}
_REQUEST_FIELDS = {"model", "messages", "max_tokens", "system", "stop_sequences", "temperature",
                   "top_p", "top_k", "tools", "tool_choice", "metadata", "stream", "thinking",
                   "service_tier", "container", "mcp_servers", "output_config", "cache_control"}
_BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result"}


@dataclass
class Canned:
    """The next answers' content, until ``reset``."""

    text: str | None = None
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)  # overrides the counted usage
    stop_reason: str | None = None
    stream_error: tuple[str, str] | None = None  # (type, message) sent as an SSE error event


def error_body(status: int, message: str) -> dict:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message},
            "request_id": f"req_fake{uuid.uuid4().hex[:20]}"}


def error_reply(status: int, message: str) -> Reply:
    return Reply(error_body(status, message), status, {"request-id": "req_fake"})


class FakeAnthropic(FakeUpstream):
    """Anthropic's Messages API on 127.0.0.1."""

    def __init__(self):
        super().__init__()
        self.canned = Canned()

    def answer(self, text: str | None = None, *, tool_calls: list[tuple[str, dict]] = (),
               usage: dict[str, int] | None = None, stop_reason: str | None = None,
               stream_error: tuple[str, str] | None = None) -> None:
        """Set what the next calls answer (text, then tool_use blocks)."""
        self.canned = Canned(text, list(tool_calls), usage or {}, stop_reason, stream_error)

    def reset(self) -> None:
        super().reset()
        self.canned = Canned()

    def error_body(self, status: int) -> Any:
        return error_body(status, f"injected failure {status}")

    def handle(self, request: Received) -> Reply | StreamReply:
        if request.method != "POST" or request.path != "/v1/messages":
            return error_reply(404, f"{request.method} {request.path} not found")
        if not api_key(request):
            return error_reply(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return error_reply(400, "anthropic-version: header is required")
        problem = check_request(request.body)
        if problem:
            return error_reply(400, problem)
        message = self.build_message(request.body)
        if request.body.get("stream"):
            return StreamReply(stream_events(message, self.canned.stream_error))
        return Reply(message, headers={"request-id": "req_fake"})

    def build_message(self, body: dict) -> dict:
        canned = self.canned
        calls = canned.tool_calls or _forced_call(body)
        text = canned.text if canned.text is not None else ("" if calls else DEFAULT_TEXT)
        stop_reason, stop_sequence = "tool_use" if calls else "end_turn", None
        for sequence in body.get("stop_sequences") or []:
            if sequence in text:
                text, stop_reason, stop_sequence = text.split(sequence)[0], "stop_sequence", sequence
        words = text.split(" ")
        if len(words) > body["max_tokens"]:
            text, stop_reason, calls = " ".join(words[:body["max_tokens"]]), "max_tokens", []
        content: list[dict] = [{"type": "text", "text": text}] if text else []
        content += [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name,
                     "input": arguments} for name, arguments in calls]
        usage = {"input_tokens": _count(body), "output_tokens": len(text.split()) + 10 * len(calls),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, **canned.usage}
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                "model": body["model"], "content": content,
                "stop_reason": canned.stop_reason or stop_reason, "stop_sequence": stop_sequence,
                "usage": usage}


def api_key(request: Received) -> str | None:
    """The caller's key: ``x-api-key``, or ``Authorization: Bearer`` as newer SDKs send it."""
    bearer = request.headers.get("authorization", "")
    return request.headers.get("x-api-key") or bearer.removeprefix("Bearer ") or None


def stream_events(message: dict, error: tuple[str, str] | None = None
                  ) -> Iterator[tuple[str, str]]:
    """The Messages streaming sequence for a finished message, as (event, data) pairs."""
    def event(kind: str, **data: Any) -> tuple[str, str]:
        return kind, json.dumps({"type": kind, **data})

    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 1}}
    yield event("message_start", message=start)
    yield event("ping")
    if error:
        yield event("error", error={"type": error[0], "message": error[1]})
        return
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield event("content_block_start", index=index, content_block={"type": "text", "text": ""})
            for piece in _pieces(block["text"], 12):
                yield event("content_block_delta", index=index,
                            delta={"type": "text_delta", "text": piece})
        else:
            yield event("content_block_start", index=index,
                        content_block={**block, "input": {}})
            for piece in ["", *_pieces(json.dumps(block["input"]), 7)]:
                yield event("content_block_delta", index=index,
                            delta={"type": "input_json_delta", "partial_json": piece})
        yield event("content_block_stop", index=index)
    yield event("message_delta", delta={"stop_reason": message["stop_reason"],
                                        "stop_sequence": message["stop_sequence"]},
                usage={"output_tokens": usage["output_tokens"]})
    yield event("message_stop")


def check_request(body: Any) -> str | None:
    """The real API's 400 message for a request it would refuse, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    extra = sorted(set(body) - _REQUEST_FIELDS)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    if not 0 <= body.get("temperature", 0) <= 1:
        return "temperature: Input should be less than or equal to 1"
    if body.get("system") is not None and not isinstance(body["system"], (str, list)):
        return "system: Input should be a valid string or list of text blocks"
    tool_names = {tool.get("name") for tool in body.get("tools") or []}
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name") not in tool_names:
        return f"tool_choice: tool '{choice.get('name')}' not found in tools"
    return _check_messages(body.get("messages"))


def _check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    pending: set[str] = set()  # tool_use ids the next user turn must answer
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and messages[i - 1].get("role") == role:
            return "messages: roles must alternate between \"user\" and \"assistant\""
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks or not isinstance(blocks, list):
            return f"messages.{i}: all messages must have non-empty content"
        kinds = [block.get("type") for block in blocks]
        if any(kind not in _BLOCK_TYPES for kind in kinds):
            return f"messages.{i}.content: unknown content block type"
        if any(kind == "text" and not block.get("text") for kind, block in zip(kinds, blocks)):
            return f"messages.{i}.content: text content blocks must be non-empty"
        answered = {block.get("tool_use_id") for block in blocks if block["type"] == "tool_result"}
        if role == "user" and (pending - answered or answered - pending):
            return (f"messages.{i}: tool_use ids must be answered by tool_result blocks "
                    f"immediately after: {sorted(pending ^ answered)}")
        first_other = next((k for k, kind in enumerate(kinds) if kind != "tool_result"), len(kinds))
        if "tool_result" in kinds[first_other:]:
            return f"messages.{i}: tool_result blocks must come first in the content"
        pending = {block["id"] for block in blocks if block["type"] == "tool_use"}
    if pending:
        return "messages: the last turn's tool_use blocks need tool_result blocks"
    return None


def _forced_call(body: dict) -> list[tuple[str, dict]]:
    """The tool call that ``tool_choice`` forces, with an input sampled from its schema."""
    choice, tools = body.get("tool_choice") or {}, body.get("tools") or []
    if choice.get("type") not in ("any", "tool") or not tools:
        return []
    name = choice.get("name") or tools[0]["name"]
    tool = next(tool for tool in tools if tool["name"] == name)
    return [(name, _sample(tool.get("input_schema") or {}))]


def _sample(schema: dict) -> Any:
    kind = schema.get("type")
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _sample(properties.get(name, {}))
                for name in schema.get("required", list(properties))}
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True,
            "array": []}.get(kind)


def _count(body: dict) -> int:
    """A stand-in token count: words in the system prompt and messages."""
    return len(json.dumps([body.get("system"), body["messages"]]).split())


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]
