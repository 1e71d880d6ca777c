"""Webhook deliveries: which are due, who holds one, and what each attempt got.

A delivery is *due* when it is pending, its ``next_attempt_at`` has come, its
endpoint is enabled, and no worker holds its lease. A worker takes it with a
compare-and-set (``begin_attempt``) that counts the attempt and sets a lease of
its own; finishing clears the lease and stores the next attempt's time. A
worker that dies mid-attempt leaves the lease to run out, and the delivery is
due again: nothing is lost, and at worst the receiver gets it twice (at least
once; the ``webhook-id`` lets it deduplicate). ``reserve`` lets the periodic
sweep hand a due delivery to a queued message without another sweep queueing it again.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from storage.errors import RecordConflict, RecordNotFound
from storage.ids import new_id
from storage.models import database_proxy
from storage.webhook_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from storage.webhooks import FAILED, PENDING, SUCCEEDED, EndpointRecord, SealedSecrets, get_endpoint

ABANDONED = "the worker stopped before this attempt finished; it was retried after its lease ran out"


class DeliveryNotFound(RecordNotFound):
    code = "webhook_delivery_not_found"

    def __init__(self, delivery_id: str):
        super().__init__(f"No delivery {delivery_id} for this endpoint.")


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status (None when no answer came), its latency, or why it failed."""

    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int  # 1 for the first
    started_at: datetime
    finished_at: datetime | None  # None while in flight
    status_code: int | None
    latency_ms: int | None
    error: str | None
    next_retry_at: datetime | None  # the retry this attempt's failure scheduled


@dataclass(frozen=True)
class DeliveryRecord:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str  # pending, succeeded, failed
    attempts: int
    next_attempt_at: datetime | None
    in_flight: bool  # a worker holds it now
    created_at: datetime
    updated_at: datetime
    history: list[AttemptRecord]  # newest first


@dataclass(frozen=True)
class Claim:
    """A delivery a worker holds for one attempt, with what it needs to send it."""

    delivery_id: str
    attempt_id: str
    attempt: int
    token: str
    endpoint_id: str
    user_id: str
    url: str
    event_id: str
    payload: str
    secrets: SealedSecrets


def _enabled_endpoints():
    return WebhookEndpoint.select(WebhookEndpoint.id).where(WebhookEndpoint.enabled == True)  # noqa: E712


def _due(now: datetime):
    return ((WebhookDelivery.status == PENDING) & (WebhookDelivery.next_attempt_at <= now)
            & (WebhookDelivery.lease_until.is_null() | (WebhookDelivery.lease_until < now))
            & WebhookDelivery.endpoint.in_(_enabled_endpoints()))


def due(now: datetime, limit: int = 200) -> list[str]:
    """Ids of deliveries due at ``now``, most overdue first."""
    query = (WebhookDelivery.select(WebhookDelivery.id).where(_due(now))
             .order_by(WebhookDelivery.next_attempt_at).limit(limit))
    return [row.id for row in query]


def reserve(delivery_id: str, now: datetime, lease_until: datetime) -> str | None:
    """Hold a due delivery until ``lease_until`` for a message to send; its token, or None."""
    token = secrets.token_urlsafe(16)
    taken = (WebhookDelivery.update(lease_until=lease_until, claim_token=token)
             .where((WebhookDelivery.id == delivery_id) & _due(now)).execute())
    return token if taken == 1 else None


def begin_attempt(delivery_id: str, token: str | None, now: datetime,
                  lease_until: datetime) -> Claim | None:
    """Take the delivery for one attempt if it is due (or reserved under ``token``); None if not."""
    new_token = secrets.token_urlsafe(16)
    condition = _due(now)
    if token is not None:
        condition = condition | ((WebhookDelivery.claim_token == token) & (WebhookDelivery.status == PENDING)
                                 & WebhookDelivery.endpoint.in_(_enabled_endpoints()))
    with database_proxy.atomic():
        taken = (WebhookDelivery.update(attempts=WebhookDelivery.attempts + 1, lease_until=lease_until,
                                        claim_token=new_token, updated_at=now)
                 .where((WebhookDelivery.id == delivery_id) & condition).execute())
        if taken != 1:
            return None
        row = (WebhookDelivery.select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
               .join(WebhookEvent).switch(WebhookDelivery).join(WebhookEndpoint)
               .where(WebhookDelivery.id == delivery_id).get())
        (WebhookAttempt.update(finished_at=now, error=ABANDONED)
         .where((WebhookAttempt.delivery == delivery_id) & WebhookAttempt.finished_at.is_null()).execute())
        attempt = WebhookAttempt.create(id=new_id("att"), delivery=delivery_id, attempt=row.attempts,
                                        started_at=now)
    endpoint = row.endpoint
    return Claim(delivery_id=delivery_id, attempt_id=attempt.id, attempt=row.attempts, token=new_token,
                 endpoint_id=endpoint.id, user_id=endpoint.user_id, url=endpoint.url,
                 event_id=row.event.id, payload=row.event.payload,
                 secrets=SealedSecrets(endpoint.secret, endpoint.previous_secret,
                                       endpoint.previous_secret_expires_at))


def finish_attempt(claim: Claim, outcome: Outcome, next_attempt_at: datetime | None, *,
                   exhausted: bool, disable_after: int, now: datetime) -> EndpointRecord | None:
    """Record the attempt and schedule the next (``next_attempt_at``; None: no more).

    A success ends the delivery even if the lease was lost meanwhile. A failure that
    ``exhausted`` the schedule counts against the endpoint; the endpoint just disabled
    for it (after ``disable_after`` in a row; 0: never) is returned, else None.
    """
    with database_proxy.atomic():
        held = (WebhookDelivery.id == claim.delivery_id) & (WebhookDelivery.status == PENDING)
        if outcome.succeeded:
            next_attempt_at = None
        else:
            held &= WebhookDelivery.claim_token == claim.token
        status = SUCCEEDED if outcome.succeeded else (PENDING if next_attempt_at else FAILED)
        updated = (WebhookDelivery.update(status=status, next_attempt_at=next_attempt_at, lease_until=None,
                                          claim_token=None, updated_at=now).where(held).execute())
        (WebhookAttempt.update(finished_at=now, status_code=outcome.status_code,
                               latency_ms=outcome.latency_ms, error=outcome.error,
                               next_retry_at=next_attempt_at if updated else None)
         .where(WebhookAttempt.id == claim.attempt_id).execute())
        endpoint = WebhookEndpoint.id == claim.endpoint_id
        if outcome.succeeded:
            (WebhookEndpoint.update(failed_in_row=0)
             .where(endpoint & (WebhookEndpoint.failed_in_row > 0)).execute())
            return None
        if not (updated and status == FAILED and exhausted):
            return None
        WebhookEndpoint.update(failed_in_row=WebhookEndpoint.failed_in_row + 1).where(endpoint).execute()
        if disable_after <= 0:
            return None
        reason = (f"{disable_after} deliveries in a row failed after every retry "
                  f"(last: {outcome.error or 'no answer'})")
        disabled = (WebhookEndpoint.update(enabled=False, disabled_reason=reason, disabled_at=now,
                                           updated_at=now)
                    .where(endpoint & (WebhookEndpoint.enabled == True)  # noqa: E712
                           & (WebhookEndpoint.failed_in_row >= disable_after)).execute())
    return get_endpoint(claim.user_id, claim.endpoint_id) if disabled else None


def _delivery_rows(endpoint_id: str):
    return (WebhookDelivery.select(WebhookDelivery, WebhookEvent.id, WebhookEvent.type).join(WebhookEvent)
            .where(WebhookDelivery.endpoint == endpoint_id))


def _records(rows, now: datetime) -> list[DeliveryRecord]:
    rows = list(rows)
    history: dict[str, list[AttemptRecord]] = {row.id: [] for row in rows}
    if rows:
        attempts = (WebhookAttempt.select().where(WebhookAttempt.delivery.in_(list(history)))
                    .order_by(WebhookAttempt.attempt.desc(), WebhookAttempt.started_at.desc()))
        for a in attempts:
            history[a.delivery_id].append(AttemptRecord(
                attempt=a.attempt, started_at=a.started_at, finished_at=a.finished_at,
                status_code=a.status_code, latency_ms=a.latency_ms, error=a.error,
                next_retry_at=a.next_retry_at))
    return [DeliveryRecord(
        id=row.id, endpoint_id=row.endpoint_id, event_id=row.event_id, event_type=row.event.type,
        status=row.status, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        in_flight=row.status == PENDING and row.lease_until is not None and row.lease_until > now,
        created_at=row.created_at, updated_at=row.updated_at, history=history[row.id]) for row in rows]


def list_deliveries(user_id: str, endpoint_id: str, now: datetime, limit: int = 50) -> list[DeliveryRecord]:
    """The endpoint's deliveries, newest first, each with its attempts (newest first)."""
    get_endpoint(user_id, endpoint_id)  # another user's endpoint is not found
    rows = (_delivery_rows(endpoint_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit))
    return _records(rows, now)


def get_delivery(user_id: str, endpoint_id: str, delivery_id: str, now: datetime) -> DeliveryRecord:
    get_endpoint(user_id, endpoint_id)
    found = _records(_delivery_rows(endpoint_id).where(WebhookDelivery.id == delivery_id), now)
    if not found:
        raise DeliveryNotFound(delivery_id)
    return found[0]


def retry_now(user_id: str, endpoint_id: str, delivery_id: str, now: datetime) -> DeliveryRecord:
    """Make a delivery due now, whatever its status (a success can be resent); Conflict while in flight."""
    current = get_delivery(user_id, endpoint_id, delivery_id, now)
    free = WebhookDelivery.lease_until.is_null() | (WebhookDelivery.lease_until < now)
    changed = (WebhookDelivery.update(status=PENDING, next_attempt_at=now, lease_until=None,
                                      claim_token=None, updated_at=now)
               .where((WebhookDelivery.id == current.id) & free).execute())
    if changed != 1:
        raise RecordConflict("This delivery is being attempted right now; look at its result first.",
                       code="delivery_in_flight")
    return get_delivery(user_id, endpoint_id, delivery_id, now)
