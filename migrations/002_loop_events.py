"""Loop events: one row per loop episode a key ran into."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class LoopEvent(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["users"],
                                  on_delete="CASCADE")
        key = pw.ForeignKeyField(column_name="key_id", field="id", model=migrator.orm["api_keys"],
                                 on_delete="CASCADE")
        pattern = pw.CharField(max_length=20)
        request_count = pw.IntegerField()
        window_seconds = pw.FloatField()
        fingerprints = pw.TextField()
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "loop_events"
            indexes = [(("user", "created_at"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("loop_events")
