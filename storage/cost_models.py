"""The cost aggregation tables: per-day totals, the partitions awaiting recomputation, the seal.

Money is kept as integer micro-cents (EUR × 10^8, ``storage.money``), like the
request log, so every sum is an integer sum in SQL: exact on every backend,
SQLite included, whose DECIMAL columns are really floating point.
"""
from __future__ import annotations

import peewee

from storage.models import BaseModel


class CostDaily(BaseModel):
    """One account's totals for one UTC day, by key, model and provider."""

    user_id = peewee.CharField(max_length=40)
    day = peewee.DateField()  # UTC
    key_id = peewee.CharField(max_length=40)
    model = peewee.CharField(max_length=120)
    provider = peewee.CharField(max_length=40)
    requests = peewee.BigIntegerField(default=0)
    prompt_tokens = peewee.BigIntegerField(default=0)
    completion_tokens = peewee.BigIntegerField(default=0)
    cost_microcents = peewee.BigIntegerField(default=0)  # EUR × 10^8
    saved_microcents = peewee.BigIntegerField(default=0)  # EUR × 10^8 the cache saved
    cached = peewee.BigIntegerField(default=0)  # requests answered from the cache
    loop_blocks = peewee.BigIntegerField(default=0)  # requests flagged or refused as a loop
    errors = peewee.BigIntegerField(default=0)  # requests with status "error"

    class Meta:
        table_name = "cost_daily"
        primary_key = peewee.CompositeKey("user_id", "day", "key_id", "model", "provider")


class CostDirty(BaseModel):
    """A (account, day) partition that received records since it was last aggregated.

    Every insert bumps ``version``; the aggregator deletes the mark only if the
    version is still the one it read, so a record landing mid-run is never lost.
    """

    user_id = peewee.CharField(max_length=40)
    day = peewee.DateField()  # UTC
    version = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "cost_dirty"
        primary_key = peewee.CompositeKey("user_id", "day")


class CostState(BaseModel):
    """One row (id 1): days before ``sealed_before`` lost raw rows to retention.

    Their aggregates are final; the aggregator never recomputes them. The row is
    also the lock that serialises aggregation runs with retention.
    """

    id = peewee.IntegerField(primary_key=True)
    sealed_before = peewee.DateField(null=True)  # UTC day; None: nothing deleted yet

    class Meta:
        table_name = "cost_state"
