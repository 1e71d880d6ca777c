"""High-risk decisions' actors: classify handed-off answers; raise overdue-review violations.

``classify`` runs every second: it drains the sealed cases (stream and journal),
appends each one's assessment and raises its events; stored by receipt id before
being acknowledged, so a worker killed mid-batch doubles nothing. ``oversight``
runs every minute and raises one ``compliance.violation`` per high-risk decision
left unreviewed past ``REVIEW_WINDOW_SECONDS``.
"""
from __future__ import annotations

import logging

import dramatiq

from app.healthcare.risk.assessment import drain_cases
from app.healthcare.risk.oversight import check_overdue
from workers.options import actor_options

log = logging.getLogger(__name__)
CLASSIFY_ACTOR = "healthcare_risk.classify"
CLASSIFY_EVERY_SECONDS = 1.0  # how soon after its answer a decision is assessed
OVERSIGHT_ACTOR = "healthcare_risk.oversight"
OVERSIGHT_EVERY_SECONDS = 60.0  # how late past its window an unreviewed decision may be flagged
QUEUE = "risk"  # its own queue: slow jobs never hold the classifier back


@dramatiq.actor(**actor_options(CLASSIFY_ACTOR, queue_name=QUEUE, time_limit_ms=60_000, max_retries=3,
                                max_age_ms=10_000))
def classify() -> None:
    """Assess every sealed answer handed off so far (idempotent; runs every second)."""
    count = drain_cases()
    if count:
        log.debug("risk classifier: %d answer(s) assessed", count)


@dramatiq.actor(**actor_options(OVERSIGHT_ACTOR, queue_name=QUEUE, time_limit_ms=5 * 60_000,
                                max_retries=3, max_age_ms=120_000))
def oversight() -> None:
    """Raise the human-oversight violations that are due (idempotent)."""
    raised = check_overdue()
    if raised:
        log.info("risk oversight: %d unreviewed high-risk decision(s) past the review window", raised)
