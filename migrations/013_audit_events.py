"""The audit trail's index (the events themselves are transparency-log leaves)."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class AuditEvent(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        account_id = pw.CharField(max_length=40)
        recorded = UtcDateTimeField()
        action_type = pw.CharField(max_length=60)
        actor_id = pw.CharField(max_length=80)
        entity_type = pw.CharField(max_length=40)
        entity_id = pw.CharField(max_length=80)

        class Meta:
            table_name = "audit_events"
            indexes = [(("account_id", "recorded", "id"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("audit_events")
