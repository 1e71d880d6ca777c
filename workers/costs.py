"""Cost actors: keep the per-day aggregates current, and apply the request log's retention.

Both are idempotent (``storage.costs`` explains why), so retries and
redeliveries are safe, and two runs at once only serialise on the database.
"""
from __future__ import annotations

import logging

import dramatiq
from flask import current_app

import storage.costs as costs_repo
import storage.jobs as jobs_repo
from app.analytics.refresh import AGGREGATE_JOB
from app.analytics.refresh import COSTS_QUEUE as QUEUE
from workers.options import actor_options

log = logging.getLogger(__name__)
AGGREGATE_EVERY_SECONDS = 5.0
RETENTION_EVERY_SECONDS = 3600.0
RETENTION_ACTOR = "costs.enforce_retention"


@dramatiq.actor(**actor_options(AGGREGATE_JOB, queue_name=QUEUE, time_limit_ms=10 * 60_000,
                                max_retries=3, max_age_ms=5 * 60_000))
def aggregate_costs(job_id: str | None = None, user_id: str | None = None) -> None:
    """Recompute every partition that received records since the last run (``user_id``'s only, if given).

    With ``job_id`` (an on-demand refresh), the job reports how many partitions it recomputed.
    """
    if job_id is not None and jobs_repo.mark_running(job_id).finished:
        return
    run = costs_repo.aggregate(user_id=user_id)
    if run.recomputed or run.sealed:
        log.info("costs aggregated: %d partition(s) recomputed, %d sealed mark(s) dropped",
                 run.recomputed, run.sealed)
    if job_id is not None:
        jobs_repo.succeed(job_id, {"partitions_recomputed": run.recomputed})


@dramatiq.actor(**actor_options(RETENTION_ACTOR, queue_name=QUEUE,
                                time_limit_ms=60 * 60_000, max_retries=3, max_age_ms=30 * 60_000))
def enforce_retention() -> None:
    """Delete raw request-log rows older than ``REQUEST_RETENTION_DAYS``; aggregates stay."""
    days = current_app.config["AQTA_SETTINGS"].request_retention_days
    run = costs_repo.apply_retention(days)
    if run.deleted:
        log.info("request log retention: %d row(s) before %s deleted", run.deleted,
                 run.cutoff.isoformat())

