"""The audit repository: index rows of audit events, and an account's events with their log entries."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import peewee

from storage import keyset
from storage.audit_models import AuditEvent
from storage.log_models import LogEntry
from storage.request_history import Position


@dataclass(frozen=True)
class AuditIndex:
    id: str
    account_id: str
    recorded: datetime
    action_type: str
    actor_id: str
    entity_type: str
    entity_id: str


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    action_type: str | None = None
    actor_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    below_index: int | None = None  # only events the log numbered below this (a checkpoint's size)


@dataclass(frozen=True)
class StoredEvent:
    id: str
    recorded: datetime
    leaf_data: bytes
    leaf_index: int | None  # None while pending


def add(row: AuditIndex) -> None:
    """Index an event (once: a second add of the same id is ignored)."""
    AuditEvent.insert(**vars(row)).on_conflict_ignore().execute()


def _condition(account_id: str, where: AuditFilter):
    condition = AuditEvent.account_id == account_id
    equal = ((AuditEvent.action_type, where.action_type), (AuditEvent.actor_id, where.actor_id),
             (AuditEvent.entity_type, where.entity_type), (AuditEvent.entity_id, where.entity_id))
    for column, value in equal:
        if value is not None:
            condition &= column == value
    if where.since is not None:
        condition &= AuditEvent.recorded >= where.since
    if where.until is not None:
        condition &= AuditEvent.recorded < where.until
    if where.below_index is not None:
        condition &= LogEntry.leaf_index.is_null(False) & (LogEntry.leaf_index < where.below_index)
    return condition


def page(account_id: str, where: AuditFilter, after: Position | None, limit: int,
         newest_first: bool = True) -> list[StoredEvent]:
    """Up to ``limit`` of the account's events strictly after ``after``, by (recorded, id)."""
    condition = _condition(account_id, where)
    if after is not None:
        condition &= keyset.after(AuditEvent.recorded, AuditEvent.id, after.created_at, after.request_id,
                                  newest_first)
    query = (AuditEvent.select(AuditEvent.id, AuditEvent.recorded, LogEntry.leaf_data, LogEntry.leaf_index)
             .join(LogEntry, on=(LogEntry.id == AuditEvent.id)).where(condition)
             .order_by(*keyset.ordered(AuditEvent.recorded, AuditEvent.id, newest_first))
             .limit(limit).tuples())
    return [StoredEvent(event_id, AuditEvent.recorded.python_value(recorded), leaf_data.encode(), leaf_index)
            for event_id, recorded, leaf_data, leaf_index in query]


def counts(account_id: str, where: AuditFilter) -> list[tuple[str, str, int]]:
    """(action type, actor id, events) of the account's events, one row per pair."""
    query = (AuditEvent.select(AuditEvent.action_type, AuditEvent.actor_id, peewee.fn.COUNT(AuditEvent.id))
             .join(LogEntry, on=(LogEntry.id == AuditEvent.id)).where(_condition(account_id, where))
             .group_by(AuditEvent.action_type, AuditEvent.actor_id).tuples())
    return [(action_type, actor_id, n) for action_type, actor_id, n in query]
