"""Per-key limits and loop settings, and the embedded mode's quota counters."""
import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields(
        "api_keys",
        rpm_limit=pw.IntegerField(null=True),
        monthly_quota=pw.IntegerField(null=True),
        loop_settings=pw.TextField(null=True),
    )

    @migrator.create_model
    class QuotaCounter(pw.Model):
        scope = pw.CharField(max_length=60)
        period = pw.CharField(max_length=7)
        used = pw.IntegerField(default=0)

        class Meta:
            table_name = "quota_counters"
            primary_key = pw.CompositeKey("scope", "period")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("quota_counters")
    migrator.remove_fields("api_keys", "rpm_limit", "monthly_quota", "loop_settings")
