"""Server-sent events as upstreams stream them: lines, events, and each event's JSON data."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from providers.errors import ProviderError


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a body that arrives in chunks, without their CR, LF or CRLF ends.

    A line is yielded as soon as its end has arrived; a CR at the end of a chunk waits
    for the next chunk, which may start with the LF of the same CRLF.
    """
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk if pending else chunk).splitlines(keepends=True)
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            yield line.rstrip(b"\r\n")
    if pending:
        yield pending.rstrip(b"\r\n")


def iter_sse(lines: Iterator[bytes]) -> Iterator[tuple[str | None, str]]:
    """Parse server-sent events: yield (event name or None, data) per event."""
    event: str | None = None
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


def event_object(data: str, provider: str) -> dict:
    """One event's ``data`` as a JSON object; anything else is the upstream's failure."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(provider, upstream_message=f"unreadable stream event: {data[:200]!r}"
                            ) from exc
    if not isinstance(event, dict):
        raise ProviderError(provider, upstream_message=f"unexpected stream event: {data[:200]!r}")
    return event
