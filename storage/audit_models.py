"""The audit trail's index: one row per audit event, to filter by; the event is its log leaf."""
from __future__ import annotations

import peewee

from storage.models import BaseModel, UtcDateTimeField


class AuditEvent(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)  # aud_…, the leaf's id in log_entries
    account_id = peewee.CharField(max_length=40)
    recorded = UtcDateTimeField()
    action_type = peewee.CharField(max_length=60)  # key.created, auth.login.failed, …
    actor_id = peewee.CharField(max_length=80)  # usr_…, key_… or operator:<login>
    entity_type = peewee.CharField(max_length=40)
    entity_id = peewee.CharField(max_length=80)

    class Meta:
        table_name = "audit_events"
        indexes = ((("account_id", "recorded", "id"), False),)
