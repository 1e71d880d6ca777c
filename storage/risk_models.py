"""High-risk decisions' tables: assessments, clinicians' reviews, violations, approved models.

The leaves themselves are log entries; these rows index them (and make the webhooks
once-only: a second assessment or violation of the same receipt is not inserted).
"""
from __future__ import annotations

import peewee

from storage.models import BaseModel, UtcDateTimeField


class RiskAssessment(BaseModel):
    """The classifier's result for one receipt (its amendment leaf holds the same)."""

    receipt_id = peewee.CharField(max_length=40, primary_key=True)  # one assessment per receipt
    amendment_id = peewee.CharField(max_length=40, unique=True)
    user_id = peewee.CharField(max_length=40)
    key_id = peewee.CharField(max_length=40)
    request_id = peewee.CharField(max_length=40)
    model = peewee.CharField(max_length=100)
    level = peewee.CharField(max_length=10)  # low, medium, high
    score = peewee.CharField(max_length=8)  # "0.840"
    categories = peewee.CharField(max_length=255)  # comma-separated
    decided_at = UtcDateTimeField()  # the answer's time (the receipt's created_at)
    assessed_at = UtcDateTimeField()

    class Meta:
        table_name = "risk_assessments"
        indexes = ((("level", "decided_at"), False), (("user_id", "decided_at"), False))


class ReceiptReview(BaseModel):
    """A clinician's review of one receipt's answer (its amendment leaf holds the same)."""

    id = peewee.CharField(max_length=40, primary_key=True)  # the amendment's id
    receipt_id = peewee.CharField(max_length=40, index=True)
    user_id = peewee.CharField(max_length=40)
    reviewer = peewee.CharField(max_length=200)
    outcome = peewee.CharField(max_length=10)  # approved, amended, rejected
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "receipt_reviews"


class ComplianceViolation(BaseModel):
    """A compliance rule one receipt's decision broke; unique per receipt and rule."""

    id = peewee.CharField(max_length=40, primary_key=True)
    user_id = peewee.CharField(max_length=40)
    receipt_id = peewee.CharField(max_length=40)
    framework = peewee.CharField(max_length=40)
    rule = peewee.CharField(max_length=60)
    severity = peewee.CharField(max_length=10)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "compliance_violations"
        indexes = ((("receipt_id", "rule"), True),)


class HealthcareSettings(BaseModel):
    """An account's healthcare settings: the models approved for high-risk use."""

    user_id = peewee.CharField(max_length=40, primary_key=True)
    high_risk_models = peewee.TextField()  # a JSON list; empty: every model is approved
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "healthcare_settings"
