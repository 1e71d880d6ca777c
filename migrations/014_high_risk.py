"""High-risk decisions: assessments, clinicians' reviews, compliance violations, approved models."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class RiskAssessment(pw.Model):
        receipt_id = pw.CharField(max_length=40, primary_key=True)
        amendment_id = pw.CharField(max_length=40, unique=True)
        user_id = pw.CharField(max_length=40)
        key_id = pw.CharField(max_length=40)
        request_id = pw.CharField(max_length=40)
        model = pw.CharField(max_length=100)
        level = pw.CharField(max_length=10)
        score = pw.CharField(max_length=8)
        categories = pw.CharField(max_length=255)
        decided_at = UtcDateTimeField()
        assessed_at = UtcDateTimeField()

        class Meta:
            table_name = "risk_assessments"
            indexes = [(("level", "decided_at"), False), (("user_id", "decided_at"), False)]

    @migrator.create_model
    class ReceiptReview(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        receipt_id = pw.CharField(max_length=40, index=True)
        user_id = pw.CharField(max_length=40)
        reviewer = pw.CharField(max_length=200)
        outcome = pw.CharField(max_length=10)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "receipt_reviews"

    @migrator.create_model
    class ComplianceViolation(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user_id = pw.CharField(max_length=40)
        receipt_id = pw.CharField(max_length=40)
        framework = pw.CharField(max_length=40)
        rule = pw.CharField(max_length=60)
        severity = pw.CharField(max_length=10)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "compliance_violations"
            indexes = [(("receipt_id", "rule"), True)]

    @migrator.create_model
    class HealthcareSettings(pw.Model):
        user_id = pw.CharField(max_length=40, primary_key=True)
        high_risk_models = pw.TextField()
        updated_at = UtcDateTimeField()

        class Meta:
            table_name = "healthcare_settings"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for table in ("healthcare_settings", "compliance_violations", "receipt_reviews", "risk_assessments"):
        migrator.remove_model(table)
