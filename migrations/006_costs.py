"""Cost aggregation: per-day totals per account, key, model and provider; dirty partitions; the seal."""
import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class CostDaily(pw.Model):
        user_id = pw.CharField(max_length=40)
        day = pw.DateField()
        key_id = pw.CharField(max_length=40)
        model = pw.CharField(max_length=120)
        provider = pw.CharField(max_length=40)
        requests = pw.BigIntegerField(default=0)
        prompt_tokens = pw.BigIntegerField(default=0)
        completion_tokens = pw.BigIntegerField(default=0)
        cost_microcents = pw.BigIntegerField(default=0)
        saved_microcents = pw.BigIntegerField(default=0)
        cached = pw.BigIntegerField(default=0)
        loop_blocks = pw.BigIntegerField(default=0)
        errors = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "cost_daily"
            primary_key = pw.CompositeKey("user_id", "day", "key_id", "model", "provider")

    @migrator.create_model
    class CostDirty(pw.Model):
        user_id = pw.CharField(max_length=40)
        day = pw.DateField()
        version = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "cost_dirty"
            primary_key = pw.CompositeKey("user_id", "day")

    @migrator.create_model
    class CostState(pw.Model):
        id = pw.IntegerField(primary_key=True)
        sealed_before = pw.DateField(null=True)

        class Meta:
            table_name = "cost_state"

    # Rows logged before this migration: mark their partitions for the first aggregation run.
    migrator.sql("INSERT INTO cost_dirty (user_id, day, version) "
                 "SELECT DISTINCT user_id, DATE(created_at), 1 FROM request_log")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("cost_state")
    migrator.remove_model("cost_dirty")
    migrator.remove_model("cost_daily")
