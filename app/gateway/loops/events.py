"""Loop events for their owner: the episodes the detector refused, newest first.

The hot path records an event when an episode starts (app.gateway.admission);
pages read them here, never from storage.
"""
from __future__ import annotations

import storage.loop_events as loop_events_repo
from storage.loop_events import LoopEventRecord

RECENT = 100  # events a listing shows at most


def recent_events(user_id: str, limit: int = RECENT) -> list[LoopEventRecord]:
    """The account's latest loop events, newest first (at most ``limit``, capped at RECENT)."""
    return loop_events_repo.list_for_user(user_id, limit=min(limit, RECENT))
