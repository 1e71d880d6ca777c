"""An on-demand refresh of an account's cost aggregates, run as a job by ``workers.costs``."""
from __future__ import annotations

from app.jobs import queue_job
from storage.jobs import JobRecord

AGGREGATE_JOB = "costs.aggregate"  # the actor's name, and the job kind of an on-demand refresh
COSTS_QUEUE = "costs"  # its own queue: slow jobs elsewhere never delay fresh analytics


def start_refresh(user_id: str) -> JobRecord:
    """A queued job that recomputes ``user_id``'s cost aggregates."""
    return queue_job(user_id, AGGREGATE_JOB, AGGREGATE_JOB, queue_name=COSTS_QUEUE)
