"""The compliance report actor: build a report of a period and write it for download."""
from __future__ import annotations

import logging
from datetime import date

import dramatiq
from flask import current_app

import storage.jobs as jobs_repo
from app.compliance.reports import jobs as reports
from workers.options import actor_options

log = logging.getLogger(__name__)


@dramatiq.actor(**actor_options(reports.REPORT_ACTOR, time_limit_ms=30 * 60_000, max_retries=0))
def compliance_report(job_id: str, user_id: str, tier: str, fmt: str, since: str, until: str) -> None:
    """Write a report; a redelivery writes it over. An error ends the job as failed."""
    try:
        reports.run(job_id, user_id, tier, fmt, date.fromisoformat(since), date.fromisoformat(until),
                    current_app.config["AQTA_SETTINGS"].export_dir)
    except Exception:
        log.exception("compliance report %s failed", job_id)
        jobs_repo.fail(job_id, "The report failed; ask for a new one.")
