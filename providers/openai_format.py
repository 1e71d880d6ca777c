"""OpenAI's chat format as every provider writes and reads it: chunks, message text, tool calls.

Each provider translates its upstream's wire format to and from OpenAI's; the pieces
of OpenAI's format they all need live here once, pure and without I/O.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

CHUNK = "chat.completion.chunk"


# -- stream chunks ----------------------------------------------------------------------
def completion_chunk(id: str | None, created: int | None, model: str | None, choices: list[dict],
          **fields: Any) -> dict:
    """A ``chat.completion.chunk``; ``fields`` (usage, system_fingerprint, ...) follow ``choices``."""
    return {"id": id, "object": CHUNK, "created": created, "model": model, "choices": choices,
            **fields}


def delta_choice(index: int, delta: dict, finish_reason: str | None = None,
                 logprobs: dict | None = None) -> dict:
    """One choice of a chunk: what it adds to the answer, and why it stopped once it has."""
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def usage_chunk(id: str | None, created: int | None, model: str | None, usage: dict,
                **fields: Any) -> dict:
    """The closing ``choices: []`` chunk that carries usage, as OpenAI sends with include_usage."""
    return completion_chunk(id, created, model, [], usage=usage, **fields)


# -- message content --------------------------------------------------------------------
def content_parts(content: Any) -> list:
    """A message's ``content`` as a list of parts: a non-empty string is one text part."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content) if isinstance(content, list) else []


def text_parts(content: Any, not_text: Callable[[int], Exception]) -> list[tuple[str, dict]]:
    """(text, part) for each non-empty text or refusal part of a message's ``content``.

    Where only text may stand (a system message, a tool result), any other part is
    refused: ``not_text(j)`` builds the error for the part at index ``j``.
    """
    texts = []
    for j, part in enumerate(content_parts(content)):
        kind = part.get("type")
        if kind not in ("text", "refusal"):
            raise not_text(j)
        if part.get(kind):
            texts.append((part[kind], part))
    return texts


def message_text(content: Any) -> str:
    """The text of a message's ``content``: a string, or its text parts joined by spaces."""
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") for part in content_parts(content)
                    if isinstance(part, dict) and part.get("type") == "text")


# -- tool calls -------------------------------------------------------------------------
def tool_arguments(call: dict) -> dict | None:
    """The arguments of an OpenAI tool call as an object; None when they are not a JSON object."""
    try:
        arguments = orjson.loads((call.get("function") or {}).get("arguments") or "{}")
    except orjson.JSONDecodeError:
        return None
    return arguments if isinstance(arguments, dict) else None


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as the JSON string OpenAI's format carries.

    ``json``, not orjson: clients have always had this spacing (``{"city": "Paris"}``).
    """
    return json.dumps(arguments or {}, ensure_ascii=False)

