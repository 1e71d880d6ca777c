"""Monthly budgets per account or key, and the embedded mode's spend counters."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class Budget(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user_id = pw.CharField(max_length=40)
        key_id = pw.CharField(max_length=40, default="")
        monthly_microcents = pw.BigIntegerField()
        thresholds = pw.CharField(max_length=100, default="50,80,100")
        hard_stop = pw.BooleanField(default=False)
        updated_at = UtcDateTimeField()

        class Meta:
            table_name = "budgets"
            indexes = [(("user_id", "key_id"), True)]

    @migrator.create_model
    class SpendCounter(pw.Model):
        scope = pw.CharField(max_length=60)
        period = pw.CharField(max_length=7)
        microcents = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "spend_counters"
            primary_key = pw.CompositeKey("scope", "period")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("spend_counters")
    migrator.remove_model("budgets")
