"""The webhooks repository: endpoints, and the events raised for an account with their deliveries.

Signing secrets come in and go out sealed (``app.webhooks.signing.SecretBox``);
this module never sees one in the clear. ``create_event`` stores an event and
one pending delivery per enabled, subscribed endpoint in one transaction, so a
delivery exists before anything is sent (``storage.webhook_deliveries`` runs them).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.account_lock import capped
from storage.errors import RecordNotFound
from storage.ids import new_id, utcnow
from storage.models import database_proxy
from storage.webhook_models import WebhookDelivery, WebhookEndpoint, WebhookEvent

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


class EndpointNotFound(RecordNotFound):
    code = "webhook_endpoint_not_found"

    def __init__(self, endpoint_id: str):
        super().__init__(f"No webhook endpoint {endpoint_id}.")
        self.endpoint_id = endpoint_id


@dataclass(frozen=True)
class EndpointRecord:
    id: str
    user_id: str
    url: str
    description: str
    event_types: list[str] | None  # None: every event type, future ones included
    enabled: bool
    failed_in_row: int  # deliveries failed for good since the last success
    disabled_reason: str | None  # set when Aqta disabled it
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None  # the old secret signs too until then
    created_at: datetime
    updated_at: datetime

    def subscribes(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


@dataclass(frozen=True)
class SealedSecrets:
    current: str  # Fernet tokens, not secrets
    previous: str | None
    previous_expires_at: datetime | None

    def active(self, now: datetime) -> list[str]:
        """The sealed secrets that sign at ``now``: the current one, and the previous until it expires."""
        if self.previous and self.previous_expires_at and now < self.previous_expires_at:
            return [self.current, self.previous]
        return [self.current]


@dataclass(frozen=True)
class EventRecord:
    id: str  # msg_…: the webhook-id of every delivery of it
    user_id: str
    type: str
    payload: str  # the exact JSON body sent
    created_at: datetime

    @property
    def data(self) -> dict:
        return json.loads(self.payload)["data"]


def _endpoint(row: WebhookEndpoint) -> EndpointRecord:
    return EndpointRecord(
        id=row.id, user_id=row.user_id, url=row.url, description=row.description,
        event_types=json.loads(row.event_types) if row.event_types is not None else None,
        enabled=row.enabled, failed_in_row=row.failed_in_row, disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at, previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at, updated_at=row.updated_at)


def _event(row: WebhookEvent) -> EventRecord:
    return EventRecord(id=row.id, user_id=row.user_id, type=row.type, payload=row.payload,
                       created_at=row.created_at)


def _types(event_types: list[str] | None) -> str | None:
    return json.dumps(sorted(set(event_types))) if event_types is not None else None


def create_endpoint(user_id: str, url: str, sealed_secret: str, *, description: str = "",
                    event_types: list[str] | None = None, enabled: bool = True,
                    limit: int | None = None) -> EndpointRecord:
    """A new endpoint; LimitReached when the account has ``limit`` already (race-free)."""
    def insert() -> EndpointRecord:
        now = utcnow()
        row = WebhookEndpoint.create(id=new_id("ep"), user=user_id, url=url,
                                     description=description, event_types=_types(event_types),
                                     enabled=enabled, secret=sealed_secret, created_at=now,
                                     updated_at=now)
        return _endpoint(row)

    if limit is None:
        return insert()
    return capped(user_id, lambda: count_endpoints(user_id), limit, insert)


def count_endpoints(user_id: str) -> int:
    return WebhookEndpoint.select().where(WebhookEndpoint.user == user_id).count()


def list_endpoints(user_id: str) -> list[EndpointRecord]:
    query = (WebhookEndpoint.select().where(WebhookEndpoint.user == user_id)
             .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id))
    return [_endpoint(row) for row in query]


def _row(user_id: str, endpoint_id: str) -> WebhookEndpoint:
    row = WebhookEndpoint.get_or_none((WebhookEndpoint.id == endpoint_id) &
                                      (WebhookEndpoint.user == user_id))
    if row is None:
        raise EndpointNotFound(endpoint_id)
    return row


def get_endpoint(user_id: str, endpoint_id: str) -> EndpointRecord:
    """An endpoint of this user's; another user's is simply not found."""
    return _endpoint(_row(user_id, endpoint_id))


_UNCHANGED = object()


def update_endpoint(user_id: str, endpoint_id: str, *, url=_UNCHANGED, description=_UNCHANGED,
                    event_types=_UNCHANGED, enabled=_UNCHANGED) -> EndpointRecord:
    """Change what is given. Enabling clears Aqta's disabled notice and the failure count."""
    row = _row(user_id, endpoint_id)
    changes: dict = {"updated_at": utcnow()}
    if url is not _UNCHANGED:
        changes["url"] = url
    if description is not _UNCHANGED:
        changes["description"] = description
    if event_types is not _UNCHANGED:
        changes["event_types"] = _types(event_types)
    if enabled is not _UNCHANGED:
        changes["enabled"] = enabled
        if enabled:
            changes.update(disabled_reason=None, disabled_at=None, failed_in_row=0)
    WebhookEndpoint.update(**changes).where(WebhookEndpoint.id == row.id).execute()
    return get_endpoint(user_id, endpoint_id)


def delete_endpoint(user_id: str, endpoint_id: str) -> None:
    """Delete the endpoint and its deliveries (the events stay in the account's list)."""
    row = _row(user_id, endpoint_id)
    with database_proxy.atomic():
        WebhookDelivery.delete().where(WebhookDelivery.endpoint == row.id).execute()
        WebhookEndpoint.delete().where(WebhookEndpoint.id == row.id).execute()


def rotate_secret(user_id: str, endpoint_id: str, sealed_secret: str,
                  overlap: timedelta) -> EndpointRecord:
    """Make ``sealed_secret`` current; the one it replaces keeps signing for ``overlap``."""
    row = _row(user_id, endpoint_id)
    now = utcnow()
    WebhookEndpoint.update(secret=sealed_secret, previous_secret=row.secret,
                           previous_secret_expires_at=now + overlap, updated_at=now) \
        .where(WebhookEndpoint.id == row.id).execute()
    return get_endpoint(user_id, endpoint_id)


def sealed_secrets(endpoint_id: str) -> SealedSecrets:
    row = WebhookEndpoint.get_by_id(endpoint_id)
    return SealedSecrets(row.secret, row.previous_secret, row.previous_secret_expires_at)


def subscribed_types(user_id: str) -> list[list[str] | None]:
    """The subscriptions of the user's enabled endpoints (None: every type), for emit's cache."""
    query = (WebhookEndpoint.select(WebhookEndpoint.event_types)
             .where((WebhookEndpoint.user == user_id) & (WebhookEndpoint.enabled == True)))  # noqa: E712
    return [json.loads(row.event_types) if row.event_types is not None else None for row in query]


def create_event(user_id: str, event_type: str, payload: str, created_at: datetime, *,
                 event_id: str | None = None,
                 endpoint_ids: list[str] | None = None) -> tuple[EventRecord, list[str]]:
    """Store an event and a pending delivery, due now, per enabled endpoint subscribed to it
    (or to exactly ``endpoint_ids``, e.g. a test event); return the event and the delivery ids."""
    with database_proxy.atomic():
        row = WebhookEvent.create(id=event_id or new_id("msg"), user=user_id, type=event_type,
                                  payload=payload, created_at=created_at)
        query = WebhookEndpoint.select().where((WebhookEndpoint.user == user_id) &
                                               (WebhookEndpoint.enabled == True))  # noqa: E712
        if endpoint_ids is not None:
            targets = [e for e in query.where(WebhookEndpoint.id.in_(endpoint_ids))]
        else:
            targets = [e for e in query if _endpoint(e).subscribes(event_type)]
        deliveries = [{"id": new_id("dlv"), "event": row.id, "endpoint": e.id, "status": PENDING,
                       "attempts": 0, "next_attempt_at": created_at, "created_at": created_at,
                       "updated_at": created_at} for e in targets]
        if deliveries:
            WebhookDelivery.insert_many(deliveries).execute()
    return _event(row), [d["id"] for d in deliveries]


def get_event(event_id: str) -> EventRecord:
    return _event(WebhookEvent.get_by_id(event_id))


def list_events(user_id: str, *, event_type: str | None = None, limit: int = 50) -> list[EventRecord]:
    """The user's events, newest first."""
    query = WebhookEvent.select().where(WebhookEvent.user == user_id)
    if event_type is not None:
        query = query.where(WebhookEvent.type == event_type)
    query = query.order_by(WebhookEvent.created_at.desc(), WebhookEvent.id).limit(limit)
    return [_event(row) for row in query]


def prune(before: datetime) -> int:
    """Delete events older than ``before`` with no pending delivery (their deliveries and attempts
    go with them); return how many."""
    pending = (WebhookDelivery.select(WebhookDelivery.event)
               .where(WebhookDelivery.status == PENDING))
    old = [row.id for row in WebhookEvent.select(WebhookEvent.id)
           .where((WebhookEvent.created_at < before) & WebhookEvent.id.not_in(pending)).limit(10_000)]
    if not old:
        return 0
    with database_proxy.atomic():
        WebhookDelivery.delete().where(WebhookDelivery.event.in_(old)).execute()
        return WebhookEvent.delete().where(WebhookEvent.id.in_(old)).execute()
