"""The loop events repository: the loops each key ran into, newest first."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from peewee import fn

from storage.ids import new_id, utcnow
from storage.loop_models import LoopEvent


@dataclass(frozen=True)
class LoopEventRecord:
    id: str
    key_id: str
    user_id: str
    pattern: str  # repeat, near_duplicate or cycle
    count: int  # requests in the loop when it was refused
    window_seconds: float
    fingerprints: list[str]  # the requests' fingerprints, oldest first
    created_at: datetime


def _record(event: LoopEvent) -> LoopEventRecord:
    return LoopEventRecord(id=event.id, key_id=event.key_id, user_id=event.user_id,
                           pattern=event.pattern, count=event.request_count,
                           window_seconds=event.window_seconds,
                           fingerprints=json.loads(event.fingerprints), created_at=event.created_at)


def record(key_id: str, user_id: str, pattern: str, count: int, window_seconds: float,
           fingerprints: list[str], created_at: datetime | None = None) -> LoopEventRecord:
    """Store one loop event (the hot path records one per episode, when it starts)."""
    event = LoopEvent.create(id=new_id("loop"), key=key_id, user=user_id, pattern=pattern,
                             request_count=count, window_seconds=window_seconds,
                             fingerprints=json.dumps(list(fingerprints)),
                             created_at=created_at or utcnow())
    return _record(event)


def list_for_user(user_id: str, limit: int = 50) -> list[LoopEventRecord]:
    query = (LoopEvent.select()
             .where(LoopEvent.user == user_id)
             .order_by(LoopEvent.created_at.desc(), LoopEvent.id)
             .limit(limit))
    return [_record(event) for event in query]


def between(user_id: str, since: datetime, until: datetime, limit: int) -> list[LoopEventRecord]:
    """The account's loop events in [since, until), oldest first (at most ``limit``)."""
    query = (LoopEvent.select()
             .where((LoopEvent.user == user_id) & (LoopEvent.created_at >= since)
                    & (LoopEvent.created_at < until))
             .order_by(LoopEvent.created_at, LoopEvent.id)
             .limit(limit))
    return [_record(event) for event in query]


def count_by_pattern(user_id: str, since: datetime, until: datetime) -> dict[str, int]:
    """How many loop events of each pattern the account had in [since, until)."""
    query = (LoopEvent.select(LoopEvent.pattern, fn.COUNT(LoopEvent.id))
             .where((LoopEvent.user == user_id) & (LoopEvent.created_at >= since)
                    & (LoopEvent.created_at < until))
             .group_by(LoopEvent.pattern)
             .tuples())
    return {pattern: int(count) for pattern, count in query}
