"""Webhook delivery: sign and POST each delivery, retry on the schedule, disable dead endpoints.

The actors in ``workers.webhooks`` call ``deliver``, ``sweep`` and ``prune`` here.

``deliver(delivery_id)`` makes one attempt if the delivery is due and nobody holds
it (``storage.webhook_deliveries`` explains the lease). A failure stores the next
attempt's time in the row, with jitter; a retry due within a minute also gets a
delayed message as a nudge. The periodic ``sweep`` sends every due delivery
whatever happened to the messages (a worker killed mid-attempt, a Redis restart,
a nudge that never went out). Dramatiq never retries these actors itself: the
schedule lives in the database. Every attempt of an event carries the same
``webhook-id``, the event id.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import timedelta

from flask import current_app

import storage.webhook_deliveries as deliveries_repo
import storage.webhooks as hooks_repo
from app.jobs import enqueue
from app.metrics.series import count_webhook_delivery
from app.webhooks import service as webhooks
from app.webhooks.events import ENDPOINT_DISABLED
from app.webhooks.service import DELIVER_ACTOR
from app.webhooks.service import DELIVERY_QUEUE as QUEUE
from app.webhooks.signing import signed_headers
from storage.ids import utcnow
from storage.webhook_deliveries import Claim, Outcome

log = logging.getLogger(__name__)
SWEEP_ACTOR = "webhooks.sweep"
SWEEP_EVERY_SECONDS = 5.0
PRUNE_ACTOR = "webhooks.prune"
PRUNE_EVERY_SECONDS = 3600.0
SWEEP_BATCH = 500  # due deliveries handed out per sweep; the next sweep takes the rest
JITTER = 0.2  # each retry delay is scaled by a random factor within 1 ± this
# Retries due within this many seconds get a delayed message; later ones are left to the
# sweep, so workers never hold hours of delayed messages in memory.
NUDGE_MAX_DELAY_SECONDS = 60.0


def retry_delay(attempt: int, schedule: Sequence[float], rng: random.Random | None = None) -> float | None:
    """Seconds from attempt number ``attempt`` (1-based) to the next, jittered; None: no more."""
    if attempt > len(schedule):
        return None
    return schedule[attempt - 1] * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def send(claim: Claim) -> Outcome:
    """Sign the event's body with the endpoint's active secrets and POST it once."""
    state = webhooks.state()
    now = utcnow()
    try:
        secrets = [state.box.open(sealed) for sealed in claim.secrets.active(now)]
    except ValueError as exc:
        return Outcome(None, 0, str(exc))
    headers = signed_headers(secrets, claim.event_id, now, claim.payload)
    return state.transport.post(claim.url, claim.payload, headers)


def deliver(delivery_id: str, token: str | None = None) -> None:
    """One attempt at a due delivery (or one the sweep reserved under ``token``)."""
    settings = current_app.config["AQTA_SETTINGS"]
    schedule = settings.webhook_retry_schedule
    now = utcnow()
    claim = deliveries_repo.begin_attempt(delivery_id, token, now,
                                          now + timedelta(seconds=settings.webhook_lease_seconds))
    if claim is None:
        return  # done, not due yet, or another worker has it
    outcome = send(claim)
    finished = utcnow()
    delay = None if outcome.succeeded else retry_delay(claim.attempt, schedule)
    next_at = finished + timedelta(seconds=delay) if delay is not None else None
    count_webhook_delivery("delivered" if outcome.succeeded else
                           "retrying" if delay is not None else "failed")
    disabled = deliveries_repo.finish_attempt(
        claim, outcome, next_at, exhausted=claim.attempt == len(schedule) + 1,
        disable_after=settings.webhook_disable_after, now=finished)
    log.info("webhook %s (event %s, endpoint %s) attempt %d: %s in %d ms%s", delivery_id,
             claim.event_id, claim.endpoint_id, claim.attempt,
             outcome.status_code if outcome.error is None else outcome.error, outcome.latency_ms,
             f"; next attempt in {delay:.1f} s" if delay is not None else "")
    if delay is not None and delay <= NUDGE_MAX_DELAY_SECONDS:
        try:
            enqueue(DELIVER_ACTOR, queue_name=QUEUE, delay_ms=max(1, int(delay * 1000)),
                    delivery_id=delivery_id)
        except Exception:  # the sweep sends it when due anyway
            log.warning("could not schedule the retry of webhook delivery %s", delivery_id, exc_info=True)
    if disabled is not None:
        log.warning("webhook endpoint %s disabled: %s", disabled.id, disabled.disabled_reason)
        webhooks.state().subscriptions.forget(disabled.user_id)
        webhooks.emit(ENDPOINT_DISABLED, disabled.user_id, {
            "endpoint_id": disabled.id, "url": disabled.url, "reason": disabled.disabled_reason,
            "failed_deliveries": settings.webhook_disable_after, "disabled_at": disabled.disabled_at})


def sweep() -> None:
    """Hand every due delivery to a ``deliver`` message, reserved so the next sweep skips it."""
    lease = timedelta(seconds=current_app.config["AQTA_SETTINGS"].webhook_lease_seconds)
    now = utcnow()
    handed = 0
    for delivery_id in deliveries_repo.due(now, SWEEP_BATCH):
        token = deliveries_repo.reserve(delivery_id, now, now + lease)
        if token is not None:
            enqueue(DELIVER_ACTOR, queue_name=QUEUE, delivery_id=delivery_id, token=token)
            handed += 1
    if handed:
        log.info("webhook sweep: %d due deliveries sent to workers", handed)


def prune() -> None:
    """Delete finished events (with their deliveries and attempts) older than WEBHOOK_RETENTION_DAYS."""
    days = current_app.config["AQTA_SETTINGS"].webhook_retention_days
    deleted = hooks_repo.prune(utcnow() - timedelta(days=days))
    if deleted:
        log.info("webhook retention: %d event(s) older than %d days deleted", deleted, days)
