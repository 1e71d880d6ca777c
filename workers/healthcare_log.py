"""The transparency log's actors: drain handed-off receipts, sequence them, sign a checkpoint;
write receipt exports; once a day, forget content older than the retention.

It runs every second. Handed-off leaves come from the Redis Stream (a consumer
group: at least once) and the local journal, and are stored idempotently by id
before being acknowledged, so a worker killed at any point loses and doubles
nothing; sequencing takes the log's lock, so concurrent runs take turns.
"""
from __future__ import annotations

import logging
from datetime import datetime

import dramatiq
from flask import current_app

import storage.jobs as jobs_repo
from app.healthcare import exports, retention
from app.healthcare.audit import SYSTEM, Actor
from app.healthcare.sequencer import drain_leaves, publish
from app.healthcare.transparency import transparency_log
from workers.options import actor_options

log = logging.getLogger(__name__)
SEQUENCE_ACTOR = "healthcare_log.sequence"
SEQUENCE_EVERY_SECONDS = 1.0  # a checkpoint at least this often while leaves arrive
QUEUE = "transparency-log"  # its own queue: slow jobs never hold a checkpoint back
EXPIRE_ACTOR = "healthcare_log.expire_content"
EXPIRE_EVERY_SECONDS = 86_400.0  # retention is counted in days


@dramatiq.actor(**actor_options(SEQUENCE_ACTOR, queue_name=QUEUE, time_limit_ms=60_000, max_retries=3,
                                max_age_ms=10_000))
def sequence_log() -> None:
    """Drain, sequence and sign (idempotent; runs every second)."""
    drained = drain_leaves()
    checkpoint = publish()
    if drained or checkpoint:
        log.debug("transparency log: %d leaf(s) drained, checkpoint %s", drained,
                  checkpoint.size if checkpoint else "unchanged")


@dramatiq.actor(**actor_options(exports.EXPORT_ACTOR, time_limit_ms=2 * 3_600_000, max_retries=0))
def export_receipts(job_id: str, user_id: str, fmt: str, since: str | None, until: str | None) -> None:
    """Write a receipt export; a worker killed mid-way leaves the message unacknowledged, and
    its redelivery starts the file over. An error ends the job as failed."""
    settings = current_app.config["AQTA_SETTINGS"]
    try:
        exports.run(job_id, user_id, fmt, datetime.fromisoformat(since) if since else None,
                    datetime.fromisoformat(until) if until else None, settings.export_dir,
                    transparency_log().inclusion_many)
    except Exception:
        log.exception("receipt export %s failed", job_id)
        jobs_repo.fail(job_id, "The export failed; start a new one.")


@dramatiq.actor(**actor_options(EXPIRE_ACTOR, time_limit_ms=3_600_000, max_retries=3,
                                max_age_ms=6 * 3_600_000))
def expire_content() -> None:
    """Forget receipts' and audit events' content past LOG_RETENTION_DAYS (idempotent; audited)."""
    expired = retention.expire(actor=Actor(SYSTEM, EXPIRE_ACTOR))
    if expired:
        log.info("log retention: content of %d leaves in %d account(s) forgotten",
                 sum(sum(counts.values()) for counts in expired.values()), len(expired))
