"""The audit repository: index rows of audit events, and an account's events with their log entries."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
    return condition


def page(account_id: str, where: AuditFilter, after: Position | None, limit: int) -> list[StoredEvent]:
    """Up to ``limit`` of the account's events, newest first, strictly after ``after``."""
    condition = _condition(account_id, where)
    if after is not None:
        condition &= ((AuditEvent.recorded < after.created_at)
                      | ((AuditEvent.recorded == after.created_at) & (AuditEvent.id < after.request_id)))
    query = (AuditEvent.select(AuditEvent.id, AuditEvent.recorded, LogEntry.leaf_data, LogEntry.leaf_index)
             .join(LogEntry, on=(LogEntry.id == AuditEvent.id)).where(condition)
             .order_by(AuditEvent.recorded.desc(), AuditEvent.id.desc()).limit(limit).tuples())
    return [StoredEvent(event_id, AuditEvent.recorded.python_value(recorded), leaf_data.encode(), leaf_index)
            for event_id, recorded, leaf_data, leaf_index in query]
