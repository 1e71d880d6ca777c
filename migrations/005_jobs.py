"""Jobs: long-running work, its progress and its outcome."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class Job(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["users"],
                                  on_delete="CASCADE")
        kind = pw.CharField(max_length=60)
        status = pw.CharField(max_length=20)
        progress = pw.FloatField(default=0.0)
        done = pw.BigIntegerField(null=True)
        total = pw.BigIntegerField(null=True)
        result = pw.TextField(null=True)
        error = pw.TextField(null=True)
        created_at = UtcDateTimeField()
        started_at = UtcDateTimeField(null=True)
        finished_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "jobs"
            indexes = [(("user", "created_at"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("jobs")
