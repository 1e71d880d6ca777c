"""Monthly budgets in EUR, per account or per key, and the spend counters of the embedded mode."""
from __future__ import annotations

import peewee

from storage.models import BaseModel, UtcDateTimeField


class Budget(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    user_id = peewee.CharField(max_length=40)
    key_id = peewee.CharField(max_length=40, default="")  # "" for the whole account
    monthly_microcents = peewee.BigIntegerField()  # EUR × 10^8
    thresholds = peewee.CharField(max_length=100, default="50,80,100")  # percents, ascending
    hard_stop = peewee.BooleanField(default=False)
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "budgets"
        indexes = ((("user_id", "key_id"), True),)


class SpendCounter(BaseModel):
    """EUR spent per scope and month, kept by the database when there is no Redis."""

    scope = peewee.CharField(max_length=60)  # "account:<id>" or "key:<id>"
    period = peewee.CharField(max_length=7)  # "YYYY-MM", UTC
    microcents = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "spend_counters"
        primary_key = peewee.CompositeKey("scope", "period")
