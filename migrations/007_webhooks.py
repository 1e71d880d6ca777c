"""Webhooks: endpoints, the events raised for an account, deliveries and their attempts."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class WebhookEndpoint(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["users"],
                                  on_delete="CASCADE")
        url = pw.CharField(max_length=2048)
        description = pw.CharField(max_length=500, default="")
        event_types = pw.TextField(null=True)
        enabled = pw.BooleanField(default=True)
        secret = pw.TextField()
        previous_secret = pw.TextField(null=True)
        previous_secret_expires_at = UtcDateTimeField(null=True)
        failed_in_row = pw.IntegerField(default=0)
        disabled_reason = pw.TextField(null=True)
        disabled_at = UtcDateTimeField(null=True)
        created_at = UtcDateTimeField()
        updated_at = UtcDateTimeField()

        class Meta:
            table_name = "webhook_endpoints"
            indexes = [(("user", "created_at"), False)]

    @migrator.create_model
    class WebhookEvent(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["users"],
                                  on_delete="CASCADE")
        type = pw.CharField(max_length=60)
        payload = pw.TextField()
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "webhook_events"
            indexes = [(("user", "created_at"), False)]

    @migrator.create_model
    class WebhookDelivery(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        event = pw.ForeignKeyField(column_name="event_id", field="id",
                                   model=migrator.orm["webhook_events"], on_delete="CASCADE")
        endpoint = pw.ForeignKeyField(column_name="endpoint_id", field="id",
                                      model=migrator.orm["webhook_endpoints"], on_delete="CASCADE")
        status = pw.CharField(max_length=20)
        attempts = pw.IntegerField(default=0)
        next_attempt_at = UtcDateTimeField(null=True)
        lease_until = UtcDateTimeField(null=True)
        claim_token = pw.CharField(max_length=40, null=True)
        created_at = UtcDateTimeField()
        updated_at = UtcDateTimeField()

        class Meta:
            table_name = "webhook_deliveries"
            indexes = [(("status", "next_attempt_at"), False), (("endpoint", "created_at"), False)]

    @migrator.create_model
    class WebhookAttempt(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        delivery = pw.ForeignKeyField(column_name="delivery_id", field="id",
                                      model=migrator.orm["webhook_deliveries"], on_delete="CASCADE")
        attempt = pw.IntegerField()
        started_at = UtcDateTimeField()
        finished_at = UtcDateTimeField(null=True)
        status_code = pw.IntegerField(null=True)
        latency_ms = pw.IntegerField(null=True)
        error = pw.TextField(null=True)
        next_retry_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "webhook_attempts"
            indexes = [(("delivery", "attempt"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("webhook_attempts")
    migrator.remove_model("webhook_deliveries")
    migrator.remove_model("webhook_events")
    migrator.remove_model("webhook_endpoints")
