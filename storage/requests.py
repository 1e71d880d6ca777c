"""The request log repository: idempotent batch inserts, and lookups for tests and tools.

Rows are keyed by request id, so inserting a record that is already there is a
no-op (``INSERT OR IGNORE`` on SQLite, ``ON CONFLICT DO NOTHING`` on PostgreSQL,
``INSERT IGNORE`` on MySQL): a drain that retries a batch never duplicates it.
"""
from __future__ import annotations

import sqlite3
from dataclasses import fields
from datetime import datetime
from decimal import Decimal

import peewee

from storage.costs import mark_dirty
from storage.models import database_proxy
from storage.money import to_eur, to_microcents
from storage.records import RequestRecord
from storage.request_models import RequestLogEntry, RequestStart

_FIELDS = [field.name for field in fields(RequestRecord)]
# SQLite before 3.32 binds at most 999 parameters per statement; stay under that there.
_SQLITE_ROWS = 999 // len(_FIELDS) if sqlite3.sqlite_version_info < (3, 32) else 2000
_SERVER_ROWS = 1000  # rows per INSERT on PostgreSQL and MySQL
# The error code of a record the reconciler wrote for a stream whose process died; the stream's
# own record, if it ever comes (the process was alive after all, only slow), replaces it.
RECONCILED_ERROR = "worker_lost"


def _row(record: RequestRecord) -> dict:
    # Not dataclasses.asdict: it deep-copies every value, a sixth of the drain's CPU.
    row = {name: getattr(record, name) for name in _FIELDS if not name.endswith("_eur")}
    row["cost_microcents"] = to_microcents(record.cost_eur)
    row["saved_microcents"] = to_microcents(record.saved_eur)
    return row


def _record(entry: RequestLogEntry) -> RequestRecord:
    values = {name: getattr(entry, name) for name in _FIELDS if not name.endswith("_eur")}
    return RequestRecord(**values, cost_eur=to_eur(entry.cost_microcents),
                         saved_eur=to_eur(entry.saved_microcents))


def _insert(model, records: list[RequestRecord]) -> int:
    step = _SQLITE_ROWS if isinstance(database_proxy.obj, peewee.SqliteDatabase) else _SERVER_ROWS
    inserted = 0
    for start in range(0, len(records), step):
        rows = [_row(record) for record in records[start:start + step]]
        inserted += model.insert_many(rows).on_conflict_ignore().as_rowcount().execute()
    return inserted


def insert_batch(records: list[RequestRecord]) -> int:
    """Insert the records not already logged, in one transaction; return how many were new.

    A record already there is left alone (a retried batch), unless the reconciler wrote
    it: then the record the request itself left replaces the estimate.
    Raises ``ValueError`` (a cost finer than 1e-8 EUR) or the driver's
    ``IntegrityError``/``DataError`` for a record the table cannot hold.
    """
    unique = list({record.request_id: record for record in records}.values())
    if not unique:
        return 0
    with database_proxy.atomic():
        inserted = _insert(RequestLogEntry, unique)
        if inserted < len(unique):  # rare: only then look for estimates to replace
            own = {r.request_id: r for r in unique if r.error_code != RECONCILED_ERROR}
            replaced = [entry.request_id for entry in RequestLogEntry.select(RequestLogEntry.request_id)
                        .where(RequestLogEntry.request_id.in_(list(own))
                               & (RequestLogEntry.error_code == RECONCILED_ERROR))] if own else []
            if replaced:
                RequestLogEntry.delete().where(RequestLogEntry.request_id.in_(replaced)).execute()
                _insert(RequestLogEntry, [own[request_id] for request_id in replaced])
        mark_dirty(unique)  # the cost aggregator recomputes these (account, day) partitions
    return inserted


def insert_starts(records: list[RequestRecord]) -> int:
    """Keep streams that began answering (status ``started``) until their final record comes."""
    unique = list({record.request_id: record for record in records}.values())
    with database_proxy.atomic():
        return _insert(RequestStart, unique)


def _unfinished(query, since: datetime | None = None, until: datetime | None = None):
    """Starts with no final record in the log, created in [since, until)."""
    finished = RequestLogEntry.select(RequestLogEntry.request_id).where(
        RequestLogEntry.request_id == RequestStart.request_id)
    query = query.where(~peewee.fn.EXISTS(finished))
    if since is not None:
        query = query.where(RequestStart.created_at >= since)
    if until is not None:
        query = query.where(RequestStart.created_at < until)
    return query


def unfinished_starts(before: datetime, limit: int = 1000) -> list[RequestRecord]:
    """Streams started before ``before`` whose final record never reached the log, oldest first."""
    query = _unfinished(RequestStart.select(), until=before).order_by(RequestStart.created_at)
    return [_record(entry) for entry in query.limit(limit)]


def forget_starts(before: datetime) -> int:
    """Drop the starts created before ``before`` (each is closed in the log by now)."""
    return RequestStart.delete().where(RequestStart.created_at < before).execute()


def get(request_id: str) -> RequestRecord | None:
    entry = RequestLogEntry.get_or_none(RequestLogEntry.request_id == request_id)
    return _record(entry) if entry else None


def count_for_user(user_id: str) -> int:
    return RequestLogEntry.select().where(RequestLogEntry.user_id == user_id).count()


def list_for_user(user_id: str) -> list[RequestRecord]:
    """Every logged request of one account, oldest first (tests and small exports)."""
    query = (RequestLogEntry.select().where(RequestLogEntry.user_id == user_id)
             .order_by(RequestLogEntry.created_at, RequestLogEntry.request_id))
    return [_record(entry) for entry in query]


def cost_for_user(user_id: str) -> Decimal:
    """The EUR the account's logged requests cost, summed exactly (integer micro-cents)."""
    total = (RequestLogEntry.select(peewee.fn.SUM(RequestLogEntry.cost_microcents))
             .where(RequestLogEntry.user_id == user_id).scalar())
    return to_eur(int(total or 0))


def spent_since(user_id: str, since: datetime, key_id: str | None = None) -> int:
    """Micro-cents the account (or one of its keys) spent since ``since``, from the log."""
    condition = (RequestLogEntry.user_id == user_id) & (RequestLogEntry.created_at >= since)
    if key_id:
        condition &= RequestLogEntry.key_id == key_id
    total = RequestLogEntry.select(peewee.fn.SUM(RequestLogEntry.cost_microcents)).where(condition)
    return int(total.scalar() or 0)


def quota_used_since(user_id: str, since: datetime, key_id: str | None = None) -> int:
    """Requests of the account (or one of its keys) since ``since`` that used quota, from the log.

    A request uses quota once admitted, unless it was given back: refused or failed before
    its first token (status ``error``, no time to first token, no tokens). An error after
    tokens flowed (a stream cut mid-way, say) keeps it. A stream still running (started,
    not finished) counts too.
    """
    condition = (RequestLogEntry.user_id == user_id) & (RequestLogEntry.created_at >= since)
    if key_id:
        condition &= RequestLogEntry.key_id == key_id
    condition &= ((RequestLogEntry.status != "error") | RequestLogEntry.ttft_ms.is_null(False)
                  | (RequestLogEntry.prompt_tokens > 0) | (RequestLogEntry.completion_tokens > 0))
    running = RequestStart.select().where(RequestStart.user_id == user_id)
    if key_id:
        running = running.where(RequestStart.key_id == key_id)
    return (RequestLogEntry.select().where(condition).count()
            + _unfinished(running, since=since).count())
