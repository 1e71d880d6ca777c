"""The request-log drain as a periodic actor (``app.gateway.request_log.drain`` does the work)."""
from __future__ import annotations

import logging

import dramatiq

from app.gateway.request_log.drain import drain_all
from workers.options import actor_options

log = logging.getLogger(__name__)
DRAIN_ACTOR = "request_log.drain"
DRAIN_EVERY_SECONDS = 1.0  # how often the schedule enqueues a drain
QUEUE = "request-log"  # its own queue: slow jobs elsewhere never hold the log back


@dramatiq.actor(**actor_options(DRAIN_ACTOR, queue_name=QUEUE, time_limit_ms=60_000, max_retries=3,
                                max_age_ms=10_000))
def drain_request_log() -> None:
    """Move what the stream and the journal hold into the table (idempotent; runs every second)."""
    count = drain_all()
    if count:
        log.debug("request log: %d record(s) drained", count)
