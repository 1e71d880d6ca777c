"""The transparency log's tables: its leaves, tree nodes, state, checkpoints and keys."""
from __future__ import annotations

import peewee

from storage.models import BaseModel, UtcDateTimeField


class LogEntry(BaseModel):
    """One leaf: handed off (``leaf_index`` NULL, pending), then sequenced into the tree."""

    id = peewee.CharField(max_length=40, primary_key=True)  # rcpt_…, later aud_…, amd_…
    leaf_type = peewee.CharField(max_length=20)  # receipt, audit_event, amendment
    account_id = peewee.CharField(max_length=40, null=True)
    leaf_data = peewee.TextField()  # the leaf's canonical bytes (UTF-8 JSON)
    leaf_hash = peewee.CharField(max_length=64)  # hex SHA-256(0x00 ‖ leaf)
    leaf_index = peewee.BigIntegerField(null=True, unique=True)  # NULL until sequenced
    queued_at = UtcDateTimeField()  # when it reached the table
    sequenced_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "log_entries"
        indexes = ((("leaf_index", "queued_at"), False),)


class LogNode(BaseModel):
    """A perfect subtree's hash: level 0 are leaf hashes, level k covers 2^k leaves."""

    level = peewee.SmallIntegerField()
    idx = peewee.BigIntegerField()
    hash = peewee.CharField(max_length=64)

    class Meta:
        table_name = "log_nodes"
        primary_key = peewee.CompositeKey("level", "idx")


class LogState(BaseModel):
    """The one row (id 1) holding the tree's size and root; sequencers lock it."""

    id = peewee.IntegerField(primary_key=True)
    size = peewee.BigIntegerField(default=0)
    root = peewee.CharField(max_length=64)

    class Meta:
        table_name = "log_state"


class LogCheckpoint(BaseModel):
    id = peewee.AutoField()
    size = peewee.BigIntegerField(index=True)
    root = peewee.CharField(max_length=64)
    note = peewee.TextField()  # the signed note, exactly as published
    key_id = peewee.CharField(max_length=8)  # hex key id of the signing key
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "log_checkpoints"


class LogKey(BaseModel):
    """Every key that ever signed a checkpoint (so old ones verify after a rotation)."""

    vkey = peewee.CharField(max_length=255, primary_key=True)  # name+keyid+base64key
    private = peewee.TextField(null=True)  # a generated key, sealed under the secret key
    active = peewee.BooleanField(default=False)
    created_at = UtcDateTimeField()
    retired_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "log_keys"


class Receipt(BaseModel):
    """A receipt's fields to list and filter by; its content is its log entry's leaf."""

    id = peewee.CharField(max_length=40, primary_key=True)
    user_id = peewee.CharField(max_length=40)
    key_id = peewee.CharField(max_length=40)
    request_id = peewee.CharField(max_length=40)
    model = peewee.CharField(max_length=100)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "receipts"
        indexes = ((("user_id", "created_at", "id"), False),)
