"""The healthcare transparency log: leaves, tree nodes, state, checkpoints, keys, receipts."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class LogEntry(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        leaf_type = pw.CharField(max_length=20)
        account_id = pw.CharField(max_length=40, null=True)
        leaf_data = pw.TextField()
        leaf_hash = pw.CharField(max_length=64)
        leaf_index = pw.BigIntegerField(null=True, unique=True)
        queued_at = UtcDateTimeField()
        sequenced_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "log_entries"
            indexes = [(("leaf_index", "queued_at"), False)]

    @migrator.create_model
    class LogNode(pw.Model):
        level = pw.SmallIntegerField()
        idx = pw.BigIntegerField()
        hash = pw.CharField(max_length=64)

        class Meta:
            table_name = "log_nodes"
            primary_key = pw.CompositeKey("level", "idx")

    @migrator.create_model
    class LogState(pw.Model):
        id = pw.IntegerField(primary_key=True)
        size = pw.BigIntegerField(default=0)
        root = pw.CharField(max_length=64)

        class Meta:
            table_name = "log_state"

    @migrator.create_model
    class LogCheckpoint(pw.Model):
        id = pw.AutoField()
        size = pw.BigIntegerField(index=True)
        root = pw.CharField(max_length=64)
        note = pw.TextField()
        key_id = pw.CharField(max_length=8)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "log_checkpoints"

    @migrator.create_model
    class LogKey(pw.Model):
        vkey = pw.CharField(max_length=255, primary_key=True)
        private = pw.TextField(null=True)
        active = pw.BooleanField(default=False)
        created_at = UtcDateTimeField()
        retired_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "log_keys"

    @migrator.create_model
    class Receipt(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user_id = pw.CharField(max_length=40)
        key_id = pw.CharField(max_length=40)
        request_id = pw.CharField(max_length=40)
        model = pw.CharField(max_length=100)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "receipts"
            indexes = [(("user_id", "created_at", "id"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for table in ("receipts", "log_keys", "log_checkpoints", "log_state", "log_nodes", "log_entries"):
        migrator.remove_model(table)
