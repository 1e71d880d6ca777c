"""Relaying a provider's stream to the client as OpenAI server-sent events.

Chunks pass straight through, one write each. Chunks that carry a
``finish_reason`` are held until the upstream ends (they come last anyway) so
the ``aqta`` block can ride on the final chunk: the usage chunk when the client
asked for ``stream_options.include_usage``, else the last finishing chunk. A
stream that breaks ends with an error event, which carries the block too (its
request id and, on the healthcare tier, its receipt id).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from app.errors import AqtaError, api_error
from app.gateway.aqta_block import AqtaBlock, with_aqta
from providers.base import Usage
from providers.errors import ProviderFailure

log = logging.getLogger(__name__)
DONE = b"data: [DONE]\n\n"
CHARS_PER_TOKEN = 4  # rough estimate, used only when the upstream never reported usage


@dataclass
class StreamOutcome:
    usage: Usage
    usage_estimated: bool  # True when the stream ended before the upstream reported usage
    status: str  # "ok", "error" or "client_disconnected"
    error: AqtaError | None = None


def sse(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def final_sse(payload: dict, aqta: AqtaBlock) -> bytes:
    """The stream's final chunk, carrying the aqta block (money as exact JSON numbers)."""
    return b"data: " + with_aqta(payload, aqta) + b"\n\n"


def estimate_tokens(text_chars: int) -> int:
    return -(-text_chars // CHARS_PER_TOKEN)


def relay(first: dict, chunks: Iterator[dict], *, include_usage: bool, prompt_chars: int,
          finish: Callable[[StreamOutcome], AqtaBlock],
          delivered: list[dict] | None = None) -> Iterator[bytes]:
    """Yield SSE bytes for ``first`` then ``chunks``; ``finish`` returns the aqta block.

    Closing this generator (the client went away) closes the upstream stream at once;
    ``finish`` is still called, with usage estimated from what was relayed. Given
    ``delivered``, each chunk is appended to it as it is handed to the client, so a
    broken or abandoned stream's ``finish`` knows what the client actually got.
    """
    def handed(chunk: dict) -> bytes:
        if delivered is not None:
            delivered.append(chunk)
        return sse(chunk)

    usage: Usage | None = None
    held: list[dict] = []
    completion_chars = 0
    outcome_status = "client_disconnected"
    error: AqtaError | None = None

    def outcome() -> StreamOutcome:
        if usage is not None:
            return StreamOutcome(usage, False, outcome_status, error)
        estimate = Usage(estimate_tokens(prompt_chars), estimate_tokens(completion_chars))
        return StreamOutcome(estimate, True, outcome_status, error)

    finished: list[AqtaBlock] = []

    def complete() -> AqtaBlock:
        """Call ``finish`` once, whichever way the stream ends."""
        if not finished:
            finished.append(finish(outcome()))
        return finished[0]

    def pending() -> Iterator[dict]:
        yield first
        yield from chunks

    try:
        try:
            for chunk in pending():
                if chunk.get("usage") and not chunk.get("choices"):
                    usage = Usage(chunk["usage"].get("prompt_tokens", 0),
                                  chunk["usage"].get("completion_tokens", 0))
                    usage_chunk = chunk
                    continue
                finishing = False  # one pass over the choices: this runs for every chunk
                for choice in chunk.get("choices", ()):
                    content = choice.get("delta", {}).get("content")
                    if content:
                        completion_chars += len(content)
                    if choice.get("finish_reason"):
                        finishing = True
                if finishing:
                    held.append(chunk)
                    continue
                yield handed(chunk)
        except (AqtaError, ProviderFailure) as failure:
            exc = api_error(failure)
            outcome_status, error = "error", exc
            for chunk in held:
                yield handed(chunk)
            yield final_sse(exc.body(), complete())
            return
        outcome_status = "ok"
        aqta = complete()
        if include_usage and usage is not None:
            for chunk in held:
                yield sse(chunk)
            yield final_sse(usage_chunk, aqta)
        elif held:
            for chunk in held[:-1]:
                yield sse(chunk)
            yield final_sse(held[-1], aqta)
        else:
            yield final_sse({**first, "choices": []}, aqta)
        yield DONE
    except GeneratorExit:
        complete()
        raise
    finally:
        chunks.close()
