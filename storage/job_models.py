"""The jobs table: one row per long-running job, its progress and its outcome."""
from __future__ import annotations

import peewee

from storage.models import BaseModel, User, UtcDateTimeField


class Job(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    user = peewee.ForeignKeyField(User, backref="jobs", on_delete="CASCADE")
    kind = peewee.CharField(max_length=60)  # what the job does, e.g. receipts_export
    status = peewee.CharField(max_length=20)  # queued, running, succeeded, failed
    progress = peewee.FloatField(default=0.0)  # 0..1
    done = peewee.BigIntegerField(null=True)  # units of work done, when counted
    total = peewee.BigIntegerField(null=True)  # units of work in all, when known
    result = peewee.TextField(null=True)  # JSON object, links to the output included
    error = peewee.TextField(null=True)  # for the owner to read; no internals
    created_at = UtcDateTimeField()
    started_at = UtcDateTimeField(null=True)
    finished_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "jobs"
        indexes = ((("user", "created_at"), False),)
