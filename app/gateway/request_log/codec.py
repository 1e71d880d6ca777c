"""A request-log record as bytes: how the sink writes it and the drain reads it back."""
from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from storage.records import RequestRecord

STREAM = "aqta:request-log"  # the default Redis Stream (REQUEST_LOG_STREAM)
STARTED = "started"  # the status of a stream's start record (``Attempt.start``), not a final one
_FIELDS = tuple(field.name for field in fields(RequestRecord))


def _default(value):
    if isinstance(value, Decimal):
        return format(value, "f")  # plain notation, never 1E-9
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} is not serialisable")


def encode(record: RequestRecord) -> bytes:
    """One JSON object: money as decimal strings, times as ISO 8601 in UTC."""
    return orjson.dumps(record, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def decode(data: bytes) -> RequestRecord:
    """The record ``encode`` wrote; unknown keys (a newer writer's) are ignored."""
    values = orjson.loads(data)
    values = {name: values[name] for name in _FIELDS}
    values["cost_eur"] = Decimal(values["cost_eur"])
    values["saved_eur"] = Decimal(values["saved_eur"])
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    return RequestRecord(**values)
