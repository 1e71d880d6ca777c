"""The request log's read side for analytics (keyset-paginated history) and its retention."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from storage.models import database_proxy
from storage.money import to_eur
from storage.records import RequestRecord
from storage.request_models import RequestLogEntry

DELETE_CHUNK = 5000  # rows per retention DELETE, so no statement holds locks for long


@dataclass(frozen=True)
class HistoryFilter:
    """Which of an account's requests to list; None means any."""

    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    key_id: str | None = None
    model: str | None = None
    provider: str | None = None
    status: str | None = None
    cached: bool | None = None
    loop_detected: bool | None = None


@dataclass(frozen=True)
class Position:
    """A place in the newest-first order: strictly after this (created_at, request_id)."""

    created_at: datetime
    request_id: str


_EQUALITY = ("key_id", "model", "provider", "status", "cached", "loop_detected")


def _record(entry: RequestLogEntry) -> RequestRecord:
    values = {f.name: getattr(entry, f.name) for f in fields(RequestRecord)
              if not f.name.endswith("_eur")}
    return RequestRecord(**values, cost_eur=to_eur(entry.cost_microcents),
                         saved_eur=to_eur(entry.saved_microcents))


def history(user_id: str, where: HistoryFilter, after: Position | None, limit: int) -> list[RequestRecord]:
    """Up to ``limit`` of the account's requests, newest first, strictly after ``after``.

    Ordered by (created_at, request_id) descending, both in the key, so a page
    boundary is stable: records inserted meanwhile are newer (they land before
    the first page), never between pages.
    """
    log = RequestLogEntry
    condition = log.user_id == user_id
    if where.since is not None:
        condition &= log.created_at >= where.since
    if where.until is not None:
        condition &= log.created_at < where.until
    for name in _EQUALITY:
        value = getattr(where, name)
        if value is not None:
            condition &= getattr(log, name) == value
    if after is not None:
        condition &= ((log.created_at < after.created_at)
                      | ((log.created_at == after.created_at) & (log.request_id < after.request_id)))
    query = (log.select().where(condition)
             .order_by(log.created_at.desc(), log.request_id.desc())
             .limit(limit))
    return [_record(entry) for entry in query]


def delete_before(cutoff: datetime, chunk: int = DELETE_CHUNK) -> int:
    """Delete raw rows created before ``cutoff``, a chunk per transaction; return how many."""
    deleted = 0
    while True:
        with database_proxy.atomic():
            ids = [row[0] for row in RequestLogEntry.select(RequestLogEntry.request_id)
                   .where(RequestLogEntry.created_at < cutoff).limit(chunk).tuples()]
            if not ids:
                return deleted
            deleted += (RequestLogEntry.delete()
                        .where(RequestLogEntry.request_id.in_(ids)).execute())
