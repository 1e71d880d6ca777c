"""The request log's table: one row per chat completion, keyed by its request id.

Money is stored as integer micro-cents (EUR × 10^8, the precision costs are
rounded to), because SQLite has no exact decimal type: integers sum exactly in
SQL on SQLite, PostgreSQL and MySQL alike. ``storage.money`` converts.
"""
from __future__ import annotations

import peewee

from storage.models import BaseModel, UtcDateTimeField


class RequestLogEntry(BaseModel):
    request_id = peewee.CharField(max_length=40, primary_key=True)  # unique: inserts are idempotent
    user_id = peewee.CharField(max_length=40)
    key_id = peewee.CharField(max_length=40)
    model = peewee.CharField(max_length=120)
    provider = peewee.CharField(max_length=40)
    status = peewee.CharField(max_length=20)  # ok, error, cached, client_disconnected
    error_code = peewee.CharField(max_length=60, null=True)
    prompt_tokens = peewee.IntegerField(default=0)
    completion_tokens = peewee.IntegerField(default=0)
    cost_microcents = peewee.BigIntegerField(default=0)  # EUR × 10^8: exact sums on every backend
    saved_microcents = peewee.BigIntegerField(default=0)  # what a cache hit saved, EUR × 10^8
    cached = peewee.BooleanField(default=False)
    loop_detected = peewee.BooleanField(default=False)
    latency_ms = peewee.IntegerField()
    ttft_ms = peewee.IntegerField(null=True)  # time to first token, streams only
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "request_log"
        indexes = ((("user_id", "created_at"), False), (("created_at",), False))


class RequestStart(RequestLogEntry):
    """A stream that began answering, kept until its final record is in ``request_log``.

    Its row is the record the stream would leave if its process died now: status
    ``started``, the prompt's estimated tokens and cost. The reconciler closes those
    whose final record never came (``app.gateway.request_log.reconcile``).
    """

    class Meta:
        table_name = "request_starts"
        indexes = ((("created_at",), False),)
