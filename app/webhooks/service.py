"""Webhooks for the rest of Aqta: ``emit`` an event; endpoints managed with their secrets.

``emit(event_type, user_id, data)`` is safe to call from the hot path and from
actors, inside an app context. When the account has no enabled endpoint that
wants the type it returns None after an in-process cache lookup (no query);
otherwise it stores the event and its deliveries, then nudges the delivery
actor. Storage and broker errors are logged, never raised: a notification must
not fail the request that raised it. The database is the source of truth; the
periodic sweep sends whatever a lost nudge left behind.

Every change to an endpoint is announced on ``endpoint_changed`` (a blinker signal,
as Flask's own): the audit trail listens there, since it lives in a package that
this one must not import.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

import peewee
from blinker import Namespace
from flask import Flask, current_app

import storage.webhook_deliveries as deliveries_repo
import storage.webhooks as hooks_repo
from app.errors import Conflict
from app.jobs import enqueue
from app.webhooks.events import ENDPOINT_DISABLED, WEBHOOK_TEST, event_type
from app.webhooks.safety import checked_addresses
from app.webhooks.signing import SecretBox, envelope, new_secret
from app.webhooks.transport import WebhookTransport
from storage.account_lock import LimitReached
from storage.ids import utcnow
from storage.webhook_deliveries import DeliveryRecord
from storage.webhooks import EndpointRecord

log = logging.getLogger(__name__)
# Sent with the account's id after an endpoint changed: endpoint_id=…, change= created,
# updated, deleted or secret_rotated, fields= the names of the fields an update changed.
endpoint_changed = Namespace().signal("webhook-endpoint-changed")
DELIVER_ACTOR = "webhooks.deliver"  # the actor (workers.webhooks) that makes one attempt
DELIVERY_QUEUE = "webhooks"  # its own queue: a slow receiver never delays other jobs
SUBSCRIPTION_CACHE_SECONDS = 1.0  # how long another instance may miss a new endpoint's first events
SUBSCRIPTION_CACHE_SIZE = 10_000  # accounts remembered per process
SECRET_OVERLAP = timedelta(hours=24)  # a rotated-out secret keeps signing this long
MAX_ENDPOINTS = 20  # per account
ALWAYS_STORED = frozenset({ENDPOINT_DISABLED})  # kept for the owner's event list even with no endpoint
_EVERY = "*"


class SubscriptionCache:
    """Which event types each account's enabled endpoints want, remembered briefly in process."""

    def __init__(self, seconds: float = SUBSCRIPTION_CACHE_SECONDS, size: int = SUBSCRIPTION_CACHE_SIZE):
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def wants(self, user_id: str, event_type_name: str) -> bool:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(user_id)
        if entry is None or entry[0] <= now:
            subscribed: set[str] = set()
            for types in hooks_repo.subscribed_types(user_id):
                subscribed.update(types if types is not None else [_EVERY])
            entry = (now + self.seconds, frozenset(subscribed))
            with self._lock:
                self._entries[user_id] = entry
                self._entries.move_to_end(user_id)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return _EVERY in entry[1] or event_type_name in entry[1]

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._entries.pop(user_id, None)


@dataclass
class WebhookState:
    box: SecretBox
    transport: WebhookTransport
    subscriptions: SubscriptionCache


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.extensions["aqta.webhooks"] = WebhookState(
        box=SecretBox(settings.secret_key),
        transport=WebhookTransport(allow_private=settings.webhook_allow_private,
                                   timeout_seconds=settings.webhook_timeout_seconds),
        subscriptions=SubscriptionCache())


def state() -> WebhookState:
    return current_app.extensions["aqta.webhooks"]


def emit(event_type_name: str, user_id: str, data: dict) -> str | None:
    """Raise an event for ``user_id``'s endpoints; its id (``msg_…``), or None if nobody listens.

    ValueError for an unknown type or data that does not fit its schema (a bug).
    """
    kind = event_type(event_type_name)
    if not kind.subscribable:
        raise ValueError(f"{event_type_name} is sent with send_test, not emitted")
    payload = kind.dump(data)
    try:
        if event_type_name not in ALWAYS_STORED and \
                not state().subscriptions.wants(user_id, event_type_name):
            return None
        return _store_and_nudge(user_id, event_type_name, payload)[0]
    except peewee.PeeweeException:
        log.exception("could not store webhook event %s for %s", event_type_name, user_id)
        return None


def _store_and_nudge(user_id: str, event_type_name: str, payload: dict,
                     endpoint_ids: list[str] | None = None) -> tuple[str, list[str]]:
    now = utcnow()
    event, delivery_ids = hooks_repo.create_event(user_id, event_type_name,
                                                  envelope(event_type_name, now, payload), now,
                                                  endpoint_ids=endpoint_ids)
    nudge(delivery_ids)
    return event.id, delivery_ids


def nudge(delivery_ids: list[str]) -> None:
    """Ask a worker to send these deliveries now; if the broker is down, the sweep will."""
    for delivery_id in delivery_ids:
        try:
            enqueue(DELIVER_ACTOR, queue_name=DELIVERY_QUEUE, delivery_id=delivery_id)
        except Exception:  # the broker's errors vary (Redis, connection); the rows are stored
            log.warning("could not enqueue webhook delivery %s; the periodic sweep will send it",
                        delivery_id, exc_info=True)


def endpoints(user_id: str) -> list[EndpointRecord]:
    """The account's endpoints."""
    return hooks_repo.list_endpoints(user_id)


def endpoint(user_id: str, endpoint_id: str) -> EndpointRecord:
    """One of the account's endpoints; another account's is not found (404)."""
    return hooks_repo.get_endpoint(user_id, endpoint_id)


def deliveries(user_id: str, endpoint_id: str, limit: int) -> list[DeliveryRecord]:
    """An endpoint's newest deliveries with their attempts (another account's: not found)."""
    return deliveries_repo.list_deliveries(user_id, endpoint_id, utcnow(), limit)


def send_test(user_id: str, endpoint_id: str) -> tuple[str, str]:
    """Send a ``webhook.test`` event to one endpoint; the event and delivery ids."""
    if not endpoint(user_id, endpoint_id).enabled:
        raise Conflict("The endpoint is disabled; enable it first.", code="endpoint_disabled")
    payload = event_type(WEBHOOK_TEST).dump(
        {"endpoint_id": endpoint_id, "message": "This is a test event from Aqta."})
    event_id, delivery_ids = _store_and_nudge(user_id, WEBHOOK_TEST, payload, [endpoint_id])
    return event_id, delivery_ids[0]


def retry_delivery(user_id: str, endpoint_id: str, delivery_id: str) -> DeliveryRecord:
    """Send a delivery (failed or succeeded) again now, with the same webhook-id."""
    if not endpoint(user_id, endpoint_id).enabled:
        raise Conflict("The endpoint is disabled; enable it first.", code="endpoint_disabled")
    delivery = deliveries_repo.retry_now(user_id, endpoint_id, delivery_id, utcnow())
    nudge([delivery.id])
    return delivery


def check_url(url: str) -> str:
    """The URL, stripped, if Aqta may deliver to it; else UnsafeWebhookUrl or UnresolvableHost."""
    settings = current_app.config["AQTA_SETTINGS"]
    url = url.strip()
    checked_addresses(url, allow_private=settings.webhook_allow_private,
                      resolver=state().transport.resolver)
    return url


def create_endpoint(user_id: str, url: str, *, description: str = "",
                    event_types: list[str] | None = None,
                    enabled: bool = True) -> tuple[EndpointRecord, str]:
    """A new endpoint and its signing secret (in the clear: the caller shows it once)."""
    url = check_url(url)  # resolves the host: before the account's lock is taken
    secret = new_secret()
    try:
        record = hooks_repo.create_endpoint(user_id, url, state().box.seal(secret),
                                            description=description, event_types=event_types,
                                            enabled=enabled, limit=MAX_ENDPOINTS)
    except LimitReached:
        raise Conflict(f"An account may have at most {MAX_ENDPOINTS} webhook endpoints.",
                       code="too_many_endpoints") from None
    state().subscriptions.forget(user_id)
    endpoint_changed.send(user_id, endpoint_id=record.id, change="created", fields=[])
    return record, secret


def update_endpoint(user_id: str, endpoint_id: str, changes: dict) -> EndpointRecord:
    if "url" in changes:
        changes = {**changes, "url": check_url(changes["url"])}
    record = hooks_repo.update_endpoint(user_id, endpoint_id, **changes)
    state().subscriptions.forget(user_id)
    endpoint_changed.send(user_id, endpoint_id=endpoint_id, change="updated", fields=sorted(changes))
    return record


def delete_endpoint(user_id: str, endpoint_id: str) -> None:
    hooks_repo.delete_endpoint(user_id, endpoint_id)
    state().subscriptions.forget(user_id)
    endpoint_changed.send(user_id, endpoint_id=endpoint_id, change="deleted", fields=[])


def rotate_secret(user_id: str, endpoint_id: str) -> tuple[EndpointRecord, str]:
    """A new signing secret (shown once); the old one keeps signing for SECRET_OVERLAP."""
    secret = new_secret()
    record = hooks_repo.rotate_secret(user_id, endpoint_id, state().box.seal(secret), SECRET_OVERLAP)
    endpoint_changed.send(user_id, endpoint_id=endpoint_id, change="secret_rotated", fields=[])
    return record, secret
