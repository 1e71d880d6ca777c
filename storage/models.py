"""Peewee models: the tables. Only repositories use them; the web layer never does."""
from __future__ import annotations

from datetime import UTC, datetime

import peewee

database_proxy = peewee.DatabaseProxy()


class UtcDateTimeField(peewee.DateTimeField):
    """Timezone-aware UTC in Python, naive UTC with microseconds in the database."""

    def get_modifiers(self):
        return [6]

    def db_value(self, value):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class User(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    email = peewee.CharField(max_length=320, unique=True)
    password_hash = peewee.CharField(max_length=255, null=True)
    tier = peewee.CharField(max_length=20, default="free")
    created_at = UtcDateTimeField()
    # Session cookies carry the generation they were issued under; bumping it (log-out,
    # password change) makes every earlier cookie of this user worthless.
    session_generation = peewee.IntegerField(default=0)

    class Meta:
        table_name = "users"


class OAuthIdentity(BaseModel):
    """A user's account at an identity provider, by the provider's stable subject id."""

    id = peewee.CharField(max_length=40, primary_key=True)
    user = peewee.ForeignKeyField(User, backref="identities", on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)
    subject = peewee.CharField(max_length=255)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "oauth_identities"
        indexes = ((("provider", "subject"), True),)


class ApiKey(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    user = peewee.ForeignKeyField(User, backref="keys", on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    key_hash = peewee.CharField(max_length=64, unique=True)  # SHA-256 hex of the whole key
    prefix = peewee.CharField(max_length=20)
    last_four = peewee.CharField(max_length=4)
    created_at = UtcDateTimeField()
    last_used_at = UtcDateTimeField(null=True)
    revoked_at = UtcDateTimeField(null=True)
    # Per-key overrides of the tier's limits; NULL means the tier's own.
    rpm_limit = peewee.IntegerField(null=True)  # requests per minute
    monthly_quota = peewee.IntegerField(null=True)  # requests per calendar month (UTC)
    loop_settings = peewee.TextField(null=True)  # JSON: loop-detection thresholds for this key
    scope = peewee.CharField(max_length=20, default="inference")  # inference or admin

    class Meta:
        table_name = "api_keys"


class QuotaCounter(BaseModel):
    """Requests counted against a monthly quota, for the embedded mode (no Redis)."""

    scope = peewee.CharField(max_length=60)  # "key:<id>" or "account:<id>"
    period = peewee.CharField(max_length=7)  # "YYYY-MM", UTC
    used = peewee.IntegerField(default=0)

    class Meta:
        table_name = "quota_counters"
        primary_key = peewee.CompositeKey("scope", "period")
