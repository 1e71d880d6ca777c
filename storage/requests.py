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
from storage.request_models import RequestLogEntry

_FIELDS = [field.name for field in fields(RequestRecord)]
# SQLite before 3.32 binds at most 999 parameters per statement; stay under that there.
_SQLITE_ROWS = 999 // len(_FIELDS) if sqlite3.sqlite_version_info < (3, 32) else 2000
_SERVER_ROWS = 1000  # rows per INSERT on PostgreSQL and MySQL


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


def insert_batch(records: list[RequestRecord]) -> int:
    """Insert the records not already logged, in one transaction; return how many were new.

    Raises ``ValueError`` (a cost finer than 1e-8 EUR) or the driver's
    ``IntegrityError``/``DataError`` for a record the table cannot hold.
    """
    unique = list({record.request_id: record for record in records}.values())
    if not unique:
        return 0
    step = _SQLITE_ROWS if isinstance(database_proxy.obj, peewee.SqliteDatabase) else _SERVER_ROWS
    inserted = 0
    with database_proxy.atomic():
        for start in range(0, len(unique), step):
            rows = [_row(record) for record in unique[start:start + step]]
            inserted += (RequestLogEntry.insert_many(rows).on_conflict_ignore()
                         .as_rowcount().execute())
        mark_dirty(unique)  # the cost aggregator recomputes these (account, day) partitions
    return inserted


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
    tokens flowed (a stream cut mid-way, say) keeps it.
    """
    condition = (RequestLogEntry.user_id == user_id) & (RequestLogEntry.created_at >= since)
    if key_id:
        condition &= RequestLogEntry.key_id == key_id
    condition &= ((RequestLogEntry.status != "error") | RequestLogEntry.ttft_ms.is_null(False)
                  | (RequestLogEntry.prompt_tokens > 0) | (RequestLogEntry.completion_tokens > 0))
    return RequestLogEntry.select().where(condition).count()
