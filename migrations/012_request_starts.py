"""Streams that began answering, until their final record is in the request log."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class RequestStart(pw.Model):
        request_id = pw.CharField(max_length=40, primary_key=True)
        user_id = pw.CharField(max_length=40)
        key_id = pw.CharField(max_length=40)
        model = pw.CharField(max_length=120)
        provider = pw.CharField(max_length=40)
        status = pw.CharField(max_length=20)
        error_code = pw.CharField(max_length=60, null=True)
        prompt_tokens = pw.IntegerField(default=0)
        completion_tokens = pw.IntegerField(default=0)
        cost_microcents = pw.BigIntegerField(default=0)
        saved_microcents = pw.BigIntegerField(default=0)
        cached = pw.BooleanField(default=False)
        loop_detected = pw.BooleanField(default=False)
        latency_ms = pw.IntegerField()
        ttft_ms = pw.IntegerField(null=True)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "request_starts"
            indexes = [(("created_at",), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("request_starts")
