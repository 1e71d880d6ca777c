"""Bias detection: probing runs and monitoring windows, their findings, probes, observations."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class BiasRun(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["users"],
                                  on_delete="CASCADE")
        source = pw.CharField(max_length=20)
        model = pw.CharField(max_length=120, null=True)
        job_id = pw.CharField(max_length=40, null=True)
        status = pw.CharField(max_length=20)
        settings = pw.TextField()
        summary = pw.TextField(null=True)
        window_start = UtcDateTimeField(null=True)
        window_end = UtcDateTimeField(null=True)
        created_at = UtcDateTimeField()
        finished_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "bias_runs"
            indexes = [(("user", "created_at"), False), (("user", "source", "window_start"), True)]

    @migrator.create_model
    class BiasFinding(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        run = pw.ForeignKeyField(column_name="run_id", field="id", model=BiasRun, on_delete="CASCADE")
        user_id = pw.CharField(max_length=40)
        attribute = pw.CharField(max_length=40)
        reference = pw.CharField(max_length=64)
        group_name = pw.CharField(max_length=64)
        kind = pw.CharField(max_length=20)
        test = pw.CharField(max_length=40)
        n = pw.IntegerField()
        rates = pw.TextField()
        effect_name = pw.CharField(max_length=40)
        effect = pw.DoubleField()
        low = pw.DoubleField()
        high = pw.DoubleField()
        p = pw.DoubleField()
        q = pw.DoubleField()
        flagged = pw.BooleanField()
        extra = pw.TextField(null=True)
        created_at = UtcDateTimeField()
        notified_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "bias_findings"
            indexes = [(("user_id", "created_at"), False),
                       (("run", "attribute", "group_name", "kind"), True)]

    @migrator.create_model
    class BiasProbe(pw.Model):
        id = pw.AutoField()
        run = pw.ForeignKeyField(column_name="run_id", field="id", model=BiasRun, on_delete="CASCADE")
        attribute = pw.CharField(max_length=40)
        group_name = pw.CharField(max_length=64)
        pair = pw.IntegerField()
        side = pw.CharField(max_length=10)
        template_id = pw.CharField(max_length=64)
        request_id = pw.CharField(max_length=40)
        receipt_id = pw.CharField(max_length=40, null=True)
        decision = pw.CharField(max_length=40, null=True)
        error_code = pw.CharField(max_length=60, null=True)

        class Meta:
            table_name = "bias_probes"
            indexes = [(("run", "attribute", "group_name", "pair", "side"), True),
                       (("request_id",), False)]

    @migrator.create_model
    class BiasObservation(pw.Model):
        request_id = pw.CharField(max_length=40)
        attribute = pw.CharField(max_length=40)
        user_id = pw.CharField(max_length=40)
        group_name = pw.CharField(max_length=64)
        decision = pw.CharField(max_length=40)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "bias_observations"
            primary_key = pw.CompositeKey("request_id", "attribute")
            indexes = [(("user_id", "created_at"), False), (("created_at",), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for table in ("bias_observations", "bias_probes", "bias_findings", "bias_runs"):
        migrator.remove_model(table)
