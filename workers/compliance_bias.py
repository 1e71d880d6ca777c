"""Bias detection's actors: a probing run, production decisions kept as they come, and the
periodic test of closed monitoring windows."""
from __future__ import annotations

import logging

import dramatiq
from flask import current_app

import storage.jobs as jobs_repo
from app.compliance.bias import monitoring, probing
from app.gateway import decisions
from workers.options import actor_options

log = logging.getLogger(__name__)
MONITOR_EVERY_SECONDS = 300.0  # closed windows are tested within this long of closing
MONITOR_ACTOR = monitoring.MONITOR_ACTOR
QUEUE = "compliance"  # probing runs take minutes: never in front of the default queue's jobs


@dramatiq.actor(**actor_options(probing.PROBE_ACTOR, queue_name=QUEUE, time_limit_ms=6 * 3_600_000,
                                max_retries=0))
def probe(job_id: str, user_id: str, run_id: str, key_id: str) -> None:
    """Send a run's probes and test them. A worker killed mid-run leaves the message
    unacknowledged; its redelivery sends only the probes not yet kept. An error fails the job."""
    try:
        probing.run(job_id, user_id, run_id, key_id)
    except Exception:
        log.exception("bias probing run %s failed", run_id)
        jobs_repo.fail(job_id, "The probing run failed; start a new one.")


@dramatiq.actor(**actor_options(monitoring.MONITOR_ACTOR, queue_name=QUEUE,
                                time_limit_ms=30 * 60_000, max_retries=3, max_age_ms=10 * 60_000))
def monitor() -> None:
    """Test every account's closed monitoring windows (idempotent: a window is tested once),
    after deleting observations older than REQUEST_RETENTION_DAYS."""
    windows = monitoring.test_closed_windows(
        keep_days=current_app.config["AQTA_SETTINGS"].request_retention_days)
    if windows:
        log.info("bias monitoring: %d window(s) tested", windows)


@dramatiq.actor(**actor_options(decisions.OBSERVE_ACTOR, queue_name=decisions.OBSERVE_QUEUE,
                                time_limit_ms=60_000, max_retries=10))
def observe(request_id: str, user_id: str, created_at: str, groups: dict, decision: str) -> None:
    """Keep one production decision and its declared groups (idempotent by request id)."""
    monitoring.record(request_id, user_id, created_at, groups, decision)
