"""The loop events table: one row per loop episode a key ran into, for analytics and webhooks."""
from __future__ import annotations

import peewee

from storage.models import ApiKey, BaseModel, User, UtcDateTimeField


class LoopEvent(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    user = peewee.ForeignKeyField(User, backref="loop_events", on_delete="CASCADE")
    key = peewee.ForeignKeyField(ApiKey, backref="loop_events", on_delete="CASCADE")
    pattern = peewee.CharField(max_length=20)  # repeat, near_duplicate or cycle
    request_count = peewee.IntegerField()
    window_seconds = peewee.FloatField()
    fingerprints = peewee.TextField()  # JSON list of request fingerprints, oldest first
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "loop_events"
        indexes = ((("user", "created_at"), False),)
