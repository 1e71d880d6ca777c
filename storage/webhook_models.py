"""The webhook tables: endpoints, the events raised for an account, deliveries and their attempts.

The database is the source of truth for delivery: an event and one delivery row
per endpoint are stored before any message is sent, and each delivery carries
its own retry schedule (``next_attempt_at``) and claim (``lease_until``).
"""
from __future__ import annotations

import peewee

from storage.models import BaseModel, User, UtcDateTimeField


class WebhookEndpoint(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    user = peewee.ForeignKeyField(User, backref="webhook_endpoints", on_delete="CASCADE")
    url = peewee.CharField(max_length=2048)
    description = peewee.CharField(max_length=500, default="")
    event_types = peewee.TextField(null=True)  # JSON list of subscribed types; NULL: every type
    enabled = peewee.BooleanField(default=True)
    secret = peewee.TextField()  # Fernet token of the signing secret (never the secret itself)
    previous_secret = peewee.TextField(null=True)  # Fernet token; still signs until it expires
    previous_secret_expires_at = UtcDateTimeField(null=True)
    failed_in_row = peewee.IntegerField(default=0)  # deliveries failed for good since the last success
    disabled_reason = peewee.TextField(null=True)  # why Aqta disabled it; NULL when enabled by hand
    disabled_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "webhook_endpoints"
        indexes = ((("user", "created_at"), False),)


class WebhookEvent(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)  # msg_…, the webhook-id header
    user = peewee.ForeignKeyField(User, backref="webhook_events", on_delete="CASCADE")
    type = peewee.CharField(max_length=60)
    payload = peewee.TextField()  # the exact JSON body sent: {"type", "timestamp", "data"}
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "webhook_events"
        indexes = ((("user", "created_at"), False),)


class WebhookDelivery(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    event = peewee.ForeignKeyField(WebhookEvent, backref="deliveries", on_delete="CASCADE")
    endpoint = peewee.ForeignKeyField(WebhookEndpoint, backref="deliveries", on_delete="CASCADE")
    status = peewee.CharField(max_length=20)  # pending, succeeded, failed
    attempts = peewee.IntegerField(default=0)  # attempts started
    next_attempt_at = UtcDateTimeField(null=True)  # due from then on; NULL once finished
    lease_until = UtcDateTimeField(null=True)  # a worker holds it until then
    claim_token = peewee.CharField(max_length=40, null=True)  # which worker holds it
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "webhook_deliveries"
        indexes = ((("status", "next_attempt_at"), False), (("endpoint", "created_at"), False))


class WebhookAttempt(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    delivery = peewee.ForeignKeyField(WebhookDelivery, backref="attempt_rows", on_delete="CASCADE")
    attempt = peewee.IntegerField()  # 1 for the first
    started_at = UtcDateTimeField()
    finished_at = UtcDateTimeField(null=True)  # NULL while in flight
    status_code = peewee.IntegerField(null=True)
    latency_ms = peewee.IntegerField(null=True)
    error = peewee.TextField(null=True)
    next_retry_at = UtcDateTimeField(null=True)  # when the retry this attempt scheduled is due

    class Meta:
        table_name = "webhook_attempts"
        indexes = ((("delivery", "attempt"), False),)
