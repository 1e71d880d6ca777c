"""Opaque cursors for newest-first pages (a row's time and id, base64url JSON), and the
range of times the analytics cover.

A cursor that this API did not hand out (not base64 JSON, a naive or out-of-range
time, an id of another kind) is a 400 naming the ``cursor`` parameter.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from app.errors import InvalidRequest
from storage.request_history import Position

MAX_ID_CHARS = 64
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # analytics times lie between these
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def in_range(moment: datetime) -> datetime:
    """The moment in UTC, or ValueError when it lies outside the years analytics covers."""
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("out of range")
    return moment


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.created_at.isoformat(), position.request_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, id_prefix: str = "req_") -> Position:
    """The position ``cursor`` names; its id must start with ``id_prefix``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None or not is_id(row_id, id_prefix):
            raise ValueError
        return Position(in_range(moment), row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidRequest("cursor is not one this API returned; pass next_cursor unchanged.",
                             field="cursor") from None


def is_id(value: object, prefix: str) -> bool:
    return (isinstance(value, str) and value.startswith(prefix) and len(value) <= MAX_ID_CHARS
            and value.isascii() and value.isprintable())
