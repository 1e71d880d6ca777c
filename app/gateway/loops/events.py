"""Loop events for their owner: the episodes the detector refused, newest first.

The hot path records an event when an episode starts (app.gateway.admission);
pages read them here, never from storage.
"""
from __future__ import annotations

from datetime import datetime

import storage.loop_events as loop_events_repo
from storage.loop_events import LoopEventRecord

RECENT = 100  # events a listing shows at most


def recent_events(user_id: str, limit: int = RECENT) -> list[LoopEventRecord]:
    """The account's latest loop events, newest first (at most ``limit``, capped at RECENT)."""
    return loop_events_repo.list_for_user(user_id, limit=min(limit, RECENT))


def events_between(user_id: str, since: datetime, until: datetime, limit: int) -> list[LoopEventRecord]:
    """The account's loop events in [since, until), oldest first (at most ``limit``)."""
    return loop_events_repo.between(user_id, since, until, limit)


def patterns_between(user_id: str, since: datetime, until: datetime) -> dict[str, int]:
    """How many loop events of each pattern (repeat, near_duplicate, cycle) in [since, until)."""
    return loop_events_repo.count_by_pattern(user_id, since, until)
