"""Pure translation between OpenAI's chat format and Anthropic's Messages API.

No I/O here: ``to_anthropic`` builds a Messages request and ``from_anthropic`` turns a
Message into a ``chat.completion``; ``providers.anthropic`` holds the stream translator
and the provider.

Gaps between the two APIs, and what the client sees:

- ``n`` > 1: 400 ``invalid_request`` naming ``n`` (Anthropic answers once per call).
- ``logprobs`` / ``top_logprobs``: 400 naming the field (Anthropic has no log probabilities).
- ``audio`` or ``modalities`` asking for audio: 400 naming the field (text out only).
- ``temperature`` above 1: 400 naming ``temperature`` (Anthropic's range is 0 to 1).
- ``response_format`` ``json_object`` / ``json_schema``: emulated with one forced tool whose
  input schema is the requested schema; its input comes back as ``message.content`` (a JSON
  string) with finish_reason ``stop``. A schema whose root is not an object, or
  ``response_format`` together with ``tools``: 400 naming ``response_format``.
- ``seed``, ``presence_penalty``, ``frequency_penalty``, ``logit_bias``, ``reasoning_effort``,
  ``service_tier``, ``store``, ``metadata``, ``prediction``, ``stream_options``: dropped
  silently; the answer stays valid, only less controlled.
- A message's ``name``, a tool's ``strict``: dropped. Roles other than system, developer,
  user, assistant and tool (e.g. legacy ``function``): 400 naming the role.
- Tools other than ``function``, content parts other than text, ``image_url`` (data: or
  http(s) URL) and PDF ``file`` data: 400 naming the tool or part.
- A request with only system messages: 400 naming ``messages`` (Anthropic needs a turn).
- ``thinking``, ``redacted_thinking`` and server-tool blocks in answers: dropped. Stop reason ``refusal``
  becomes ``content_filter``; ``pause_turn`` and unknown reasons become ``stop``.
- Cache write/read tokens are counted as prompt tokens (``Usage`` has no cache fields).
- A stream always ends with a usage chunk (``choices: []``), asked for or not; the gateway
  decides whether to forward it.
"""
from __future__ import annotations

import re
import time
from typing import Any

from providers.base import ChatRequest, ChatResponse, Usage
from providers.errors import ProviderError, UnsupportedRequest
from providers.openai_format import arguments_text, text_parts, tool_arguments

PROVIDER = "anthropic"
DEFAULT_MAX_TOKENS = 4096  # tokens; Anthropic requires max_tokens, OpenAI does not
JSON_TOOL = "json_response"  # the forced tool that carries response_format answers

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
           "max_tokens": "length", "model_context_window_exceeded": "length",
           "tool_use": "tool_calls", "refusal": "content_filter"}
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,(.*)$", re.DOTALL)
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


# -- request: OpenAI -> Anthropic ---------------------------------------------------

def to_anthropic(request: ChatRequest, *, stream: bool = False) -> dict:
    """The Messages API request for an OpenAI chat request; UnsupportedRequest for what cannot map."""
    body = request.body
    _reject_unsupported(body)
    system, messages = translate_messages(body.get("messages") or [])
    payload: dict[str, Any] = {"model": request.model, "messages": messages,
                               "max_tokens": _max_tokens(body)}
    if system:
        payload["system"] = system
    stop = body.get("stop")
    if stop:
        payload["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            payload[name] = body[name]
    json_tool = _json_tool(body)
    if json_tool:
        payload["tools"] = [json_tool]
        payload["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    elif body.get("tools"):
        payload["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(body["tools"])]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            payload["tool_choice"] = choice
    if body.get("user"):
        payload["metadata"] = {"user_id": str(body["user"])}
    if stream:
        payload["stream"] = True
    return payload


def wants_json(body: dict) -> bool:
    """Whether the request asks for a JSON answer (emulated with the forced JSON tool)."""
    fmt = body.get("response_format") or {}
    return fmt.get("type") in ("json_object", "json_schema")


def translate_messages(messages: list[dict]) -> tuple[str | list[dict] | None, list[dict]]:
    """OpenAI messages -> (Anthropic ``system``, alternating user/assistant turns)."""
    system: list[dict] = []
    turns: list[dict] = []
    for i, message in enumerate(messages):
        where, role = f"messages[{i}]", message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), where))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), where)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            blocks = [_tool_result(message, where)]
            role = "user"
        else:
            raise UnsupportedRequest(f"{where}.role '{role}' is not supported by Anthropic models.",
                                 field=f"{where}.role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:  # Anthropic requires alternating roles
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise UnsupportedRequest("Anthropic models need at least one user or assistant message.",
                             field="messages")
    for turn in turns:
        # tool_result blocks must open a user turn; sorted() is stable for the rest.
        turn["content"] = sorted(turn["content"], key=lambda b: b["type"] != "tool_result")
        if len(turn["content"]) == 1 and set(turn["content"][0]) == {"type", "text"}:
            turn["content"] = turn["content"][0]["text"]
    if any("cache_control" in block for block in system):
        return system, turns
    return "\n\n".join(block["text"] for block in system) or None, turns


def _reject_unsupported(body: dict) -> None:
    if (body.get("n") or 1) > 1:
        raise UnsupportedRequest("Anthropic models return one choice per request; set n to 1.",
                             field="n")
    for name in ("logprobs", "top_logprobs"):
        if body.get(name):
            raise UnsupportedRequest(f"Anthropic models do not return log probabilities; "
                                 f"remove {name}.", field=name)
    if body.get("audio") or "audio" in (body.get("modalities") or []):
        raise UnsupportedRequest("Anthropic models answer in text only; remove audio.",
                             field="audio" if body.get("audio") else "modalities")
    if (body.get("temperature") or 0) > 1:
        raise UnsupportedRequest("Anthropic models take a temperature between 0 and 1.",
                             field="temperature")


def _max_tokens(body: dict) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            return int(body[name])
    return DEFAULT_MAX_TOKENS


def _text_blocks(content: Any, where: str) -> list[dict]:
    def not_text(j: int) -> UnsupportedRequest:
        return UnsupportedRequest(f"{where}.content[{j}] must be text here.",
                                  field=f"{where}.content[{j}].type")

    return [_with_cache({"type": "text", "text": text}, part)
            for text, part in text_parts(content, not_text)]


def _user_blocks(content: Any, where: str) -> list[dict]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, where)
    blocks = []
    for j, part in enumerate(content):
        kind, at = part.get("type"), f"{where}.content[{j}]"
        if kind == "text":
            blocks.extend(_text_blocks([part], where))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(_with_cache(_image_block(url or "", at), part))
        elif kind == "file":
            blocks.append(_with_cache(_document_block(part.get("file") or {}, at), part))
        else:
            raise UnsupportedRequest(f"{at} of type '{kind}' is not supported by Anthropic models.",
                                 field=f"{at}.type")
    return blocks


def _image_block(url: str, where: str) -> dict:
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    match = _DATA_URL.match(url)
    if not match or match.group(1) not in _IMAGE_TYPES:
        raise UnsupportedRequest(f"{where}.image_url must be an http(s) URL or a base64 data: URL "
                             f"of a JPEG, PNG, GIF or WebP image.", field=f"{where}.image_url")
    return {"type": "image",
            "source": {"type": "base64", "media_type": match.group(1), "data": match.group(2)}}


def _document_block(file: dict, where: str) -> dict:
    match = _DATA_URL.match(file.get("file_data") or "")
    if not match or match.group(1) != "application/pdf":
        raise UnsupportedRequest(f"{where}.file must carry file_data as a base64 PDF data: URL.",
                             field=f"{where}.file")
    return {"type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": match.group(2)}}


def _assistant_blocks(message: dict, where: str) -> list[dict]:
    blocks = _text_blocks(message.get("content"), where)
    for j, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        arguments = tool_arguments(call)
        if arguments is None:
            raise UnsupportedRequest(f"{where}.tool_calls[{j}].function.arguments must be a JSON "
                                 f"object.", field=f"{where}.tool_calls[{j}].function.arguments")
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
                       "input": arguments})
    return blocks


def _tool_result(message: dict, where: str) -> dict:
    if not message.get("tool_call_id"):
        raise UnsupportedRequest(f"{where} needs the tool_call_id it answers.",
                             field=f"{where}.tool_call_id")
    content = message.get("content")
    return {"type": "tool_result", "tool_use_id": message["tool_call_id"],
            "content": content if isinstance(content, str) else _text_blocks(content, where)}


def _with_cache(block: dict, part: dict) -> dict:
    """Keep a part's prompt-caching marker: Anthropic honours it, OpenAI clients may send it."""
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _tool(tool: dict, where: str) -> dict:
    function = tool.get("function") or {}
    if tool.get("type", "function") != "function" or not function.get("name"):
        raise UnsupportedRequest(f"{where} must be a function tool with a name.", field=f"{where}.type")
    result = {"name": function["name"],
              "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        result["description"] = function["description"]
    return result


def _tool_choice(choice: Any, parallel: bool | None) -> dict | None:
    if choice is None:
        result = {"type": "auto"} if parallel is False else None
    elif choice in ("auto", "none"):
        result = {"type": choice}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        result = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise UnsupportedRequest("tool_choice must be auto, required, none or a named function.",
                             field="tool_choice")
    if result and parallel is False and result["type"] != "none":
        result["disable_parallel_tool_use"] = True
    return result


def _json_tool(body: dict) -> dict | None:
    if not wants_json(body):
        return None
    if body.get("tools"):
        raise UnsupportedRequest("Anthropic models cannot combine response_format with tools.",
                             field="response_format")
    spec = body["response_format"].get("json_schema") or {}
    schema = spec.get("schema") or {"type": "object"}
    if schema.get("type") != "object":
        raise UnsupportedRequest("For Anthropic models the JSON schema's root must be an object.",
                             field="response_format")
    return {"name": JSON_TOOL, "input_schema": schema,
            "description": spec.get("description") or "Give the answer as this JSON object."}


# -- response: Anthropic -> OpenAI ---------------------------------------------------

def finish_reason(stop_reason: str | None) -> str | None:
    """OpenAI's finish_reason for an Anthropic stop_reason."""
    return None if stop_reason is None else _FINISH.get(stop_reason, "stop")


def usage_from(usage: dict) -> Usage:
    """Anthropic usage -> ours; cache writes and reads are prompt tokens too."""
    prompt = sum(usage.get(name) or 0 for name in (
        "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    return Usage(prompt_tokens=prompt, completion_tokens=usage.get("output_tokens") or 0)


def from_anthropic(message: dict, *, json_mode: bool = False,
                   created: int | None = None) -> ChatResponse:
    """A ``chat.completion`` for an Anthropic Message; ProviderError if it is not one."""
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise ProviderError(PROVIDER, upstream_message=f"not a message: {str(message)[:200]}")
    texts: list[str] = []
    tool_calls: list[dict] = []
    for block in message["content"]:
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "tool_use" and json_mode and block.get("name") == JSON_TOOL:
            texts.append(arguments_text(block.get("input")))
        elif block.get("type") == "tool_use":
            tool_calls.append({"id": block.get("id"), "type": "function",
                               "function": {"name": block.get("name"),
                                            "arguments": arguments_text(block.get("input"))}})
    reason = finish_reason(message.get("stop_reason")) or "stop"
    if reason == "tool_calls" and not tool_calls:
        reason = "stop"  # only the JSON tool was used
    reply: dict[str, Any] = {"role": "assistant",
                             "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    usage = usage_from(message.get("usage") or {})
    body = {"id": message.get("id"), "object": "chat.completion",
            "created": int(time.time()) if created is None else created,
            "model": message.get("model"),
            "choices": [{"index": 0, "message": reply, "finish_reason": reason, "logprobs": None}],
            "usage": usage.as_openai()}
    return ChatResponse(body=body, usage=usage)
