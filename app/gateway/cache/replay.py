"""Converting between a ``chat.completion`` and its stream of ``chat.completion.chunk``s.

The cache stores whole completions. A streamed answer is assembled into one
before it is stored, and a hit for a streamed request is replayed as chunks.
Pure functions, in OpenAI's formats on both sides.
"""
from __future__ import annotations

from collections.abc import Iterator

# Top-level fields OpenAI repeats on every chunk; any others ride on the first one.
EVERY_CHUNK = ("id", "created", "model", "system_fingerprint", "service_tier")
NOT_COPIED = frozenset({"object", "choices", "usage"})


def completion_to_chunks(completion: dict) -> list[dict]:
    """The chunks OpenAI would have streamed for ``completion``, per choice in order.

    Each choice gets a role chunk, a content (or refusal) chunk, one chunk per tool
    call with its id, name and whole arguments, and a finish chunk; a final chunk
    with ``choices: []`` carries the usage when the completion has one.
    """
    base = {name: completion[name] for name in EVERY_CHUNK if name in completion}
    base["object"] = "chat.completion.chunk"
    extras = {name: value for name, value in completion.items()
              if name not in NOT_COPIED and name not in EVERY_CHUNK}
    chunks: list[dict] = []

    def emit(index: int, delta: dict, finish_reason: str | None = None,
             logprobs: dict | None = None) -> None:
        choice = {"index": index, "delta": delta, "logprobs": logprobs,
                  "finish_reason": finish_reason}
        chunks.append({**base, **(extras if not chunks else {}), "choices": [choice]})

    for choice in completion.get("choices", ()):
        index, message = choice.get("index", 0), choice.get("message") or {}
        emit(index, {"role": message.get("role", "assistant")})
        if message.get("content"):
            emit(index, {"content": message["content"]}, logprobs=choice.get("logprobs"))
        if message.get("refusal"):
            emit(index, {"refusal": message["refusal"]})
        for position, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            emit(index, {"tool_calls": [{
                "index": position, "id": call.get("id"), "type": call.get("type", "function"),
                "function": {"name": function.get("name"),
                             "arguments": function.get("arguments", "")}}]})
        emit(index, {}, choice.get("finish_reason"))
    if completion.get("usage") is not None:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


class _Choice:
    """One choice being assembled from its deltas."""

    def __init__(self, index: int):
        self.index = index
        self.role = "assistant"
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict] = {}
        self.finish_reason: str | None = None
        self.logprobs: dict | None = None

    def add(self, choice: dict) -> None:
        delta = choice.get("delta") or {}
        self.role = delta.get("role") or self.role
        if delta.get("content"):
            self.content.append(delta["content"])
        if delta.get("refusal"):
            self.refusal.append(delta["refusal"])
        for piece in delta.get("tool_calls") or ():
            self.add_tool_call(piece)
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        if choice.get("logprobs"):
            self.add_logprobs(choice["logprobs"])

    def add_tool_call(self, piece: dict) -> None:
        call = self.tool_calls.setdefault(piece.get("index", 0), {
            "id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        call["id"] = call["id"] or piece.get("id")
        call["type"] = piece.get("type") or call["type"]
        function = piece.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""

    def add_logprobs(self, logprobs: dict) -> None:
        if self.logprobs is None:
            self.logprobs = {"content": None, "refusal": None}
        for part in ("content", "refusal"):
            if logprobs.get(part):
                self.logprobs[part] = (self.logprobs[part] or []) + list(logprobs[part])

    def as_openai(self) -> dict:
        text, refusal = "".join(self.content), "".join(self.refusal)
        calls = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        message: dict = {"role": self.role, "content": text or (None if calls or refusal else "")}
        if refusal:
            message["refusal"] = refusal
        if calls:
            message["tool_calls"] = calls
        return {"index": self.index, "message": message, "logprobs": self.logprobs,
                "finish_reason": self.finish_reason}


def chunks_to_completion(chunks: list[dict]) -> dict:
    """Assemble streamed chunks into the ``chat.completion`` they add up to.

    Content, refusal and tool-call argument pieces are joined per choice (several
    choices when ``n`` > 1); the usage comes from the chunk that carries it.
    """
    completion: dict = {}
    choices: dict[int, _Choice] = {}
    for chunk in chunks:
        for name, value in chunk.items():
            if name not in NOT_COPIED and name != "aqta" and value is not None:
                completion.setdefault(name, value)
        if chunk.get("usage") is not None:
            completion["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            choices.setdefault(index, _Choice(index)).add(choice)
    completion["object"] = "chat.completion"
    completion["choices"] = [choices[i].as_openai() for i in sorted(choices)]
    return completion


def teed_into(chunks: Iterator[dict], into: list[dict]) -> Iterator[dict]:
    """Pass ``chunks`` through, appending each to ``into``; closing this closes them."""
    try:
        for chunk in chunks:
            into.append(chunk)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
