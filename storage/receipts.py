"""The receipts repository: an account's receipts, newest first, with their log entries."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage import keyset
from storage.log_models import LogEntry, Receipt


@dataclass(frozen=True)
class ReceiptFilter:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    key_id: str | None = None
    model: str | None = None
    sequenced_only: bool = False
    below_index: int | None = None  # only leaves a tree of this size holds


@dataclass(frozen=True)
class ReceiptPosition:
    """Strictly after this (created_at, id) in the order being read."""

    created_at: datetime
    id: str


@dataclass(frozen=True)
class StoredReceipt:
    id: str
    user_id: str
    created_at: datetime
    leaf_data: bytes
    leaf_index: int | None  # None while pending


def _stored(row: tuple) -> StoredReceipt:
    receipt_id, user_id, created_at, leaf_data, leaf_index = row
    return StoredReceipt(receipt_id, user_id, Receipt.created_at.python_value(created_at),
                         leaf_data.encode(), leaf_index)


def _joined():
    return (Receipt.select(Receipt.id, Receipt.user_id, Receipt.created_at, LogEntry.leaf_data,
                           LogEntry.leaf_index)
            .join(LogEntry, on=(LogEntry.id == Receipt.id)))


def get(user_id: str, receipt_id: str) -> StoredReceipt | None:
    """One of the account's receipts; another account's is simply not found."""
    row = _joined().where((Receipt.id == receipt_id) & (Receipt.user_id == user_id)).tuples().first()
    return _stored(row) if row else None


def _condition(user_id: str, where: ReceiptFilter):
    condition = Receipt.user_id == user_id
    if where.since is not None:
        condition &= Receipt.created_at >= where.since
    if where.until is not None:
        condition &= Receipt.created_at < where.until
    if where.key_id is not None:
        condition &= Receipt.key_id == where.key_id
    if where.model is not None:
        condition &= Receipt.model == where.model
    if where.sequenced_only:
        condition &= LogEntry.leaf_index.is_null(False)
    if where.below_index is not None:
        condition &= LogEntry.leaf_index < where.below_index
    return condition


def page(user_id: str, where: ReceiptFilter, after: ReceiptPosition | None, limit: int,
         newest_first: bool = True) -> list[StoredReceipt]:
    """Up to ``limit`` receipts strictly after ``after``, by (created_at, id)."""
    condition = _condition(user_id, where)
    if after is not None:
        condition &= keyset.after(Receipt.created_at, Receipt.id, after.created_at, after.id, newest_first)
    order = keyset.ordered(Receipt.created_at, Receipt.id, newest_first)
    return [_stored(row) for row in _joined().where(condition).order_by(*order).limit(limit).tuples()]


def count(user_id: str, where: ReceiptFilter) -> int:
    return _joined().where(_condition(user_id, where)).count()
