"""The webhook event types: each one's data schema, description and example payload.

A schema both checks what ``emit`` is given (a misspelt field is a bug, caught
in tests, not a payload that drifts from the documentation) and documents the
type in the OpenAPI spec. Money is an exact decimal string, as in the API.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate

LOOP_DETECTED = "loop.detected"
BUDGET_THRESHOLD_REACHED = "budget.threshold_reached"
BUDGET_EXCEEDED = "budget.exceeded"
QUOTA_THRESHOLD_REACHED = "quota.threshold_reached"
HIGH_RISK_DECISION = "healthcare.high_risk_decision"
COMPLIANCE_VIOLATION = "compliance.violation"
LOG_CHECKPOINT = "log.checkpoint"
WEBHOOK_TEST = "webhook.test"
ENDPOINT_DISABLED = "endpoint.disabled"
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM")
SCOPE = validate.OneOf(["account", "key"])


class LoopDetectedData(Schema):
    key_id = fields.String(required=True)
    pattern = fields.String(required=True, validate=validate.OneOf(["repeat", "near_duplicate", "cycle"]))
    count = fields.Integer(required=True, metadata={"description": "Requests in the loop"})
    window_seconds = fields.Float(required=True)
    fingerprints = fields.List(fields.String(), required=True,
                               metadata={"description": "The looping requests' fingerprints, oldest first"})


class BudgetData(Schema):
    scope = fields.String(required=True, validate=SCOPE)
    key_id = fields.String(allow_none=True, load_default=None, dump_default=None,
                           metadata={"description": "The key, when scope is key"})
    budget_eur = fields.Decimal(required=True, as_string=True)
    spent_eur = fields.Decimal(required=True, as_string=True)
    threshold_percent = fields.Integer(required=True, validate=validate.Range(min=1))
    month = fields.String(required=True, validate=MONTH)


class QuotaData(Schema):
    scope = fields.String(required=True, validate=SCOPE)
    key_id = fields.String(allow_none=True, load_default=None, dump_default=None)
    quota = fields.Integer(required=True, metadata={"description": "Requests allowed this month"})
    used = fields.Integer(required=True)
    threshold_percent = fields.Integer(required=True, validate=validate.Range(min=1))
    month = fields.String(required=True, validate=MONTH)


class HighRiskDecisionData(Schema):
    request_id = fields.String(required=True)
    receipt_id = fields.String(allow_none=True, load_default=None, dump_default=None)
    key_id = fields.String(required=True)
    model = fields.String(required=True)
    risk_level = fields.String(required=True, validate=validate.OneOf(["high", "critical"]))
    risk_score = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    categories = fields.List(fields.String(), required=True,
                             metadata={"description": "What made it high-risk, e.g. diagnosis, dosage"})
    summary = fields.String(required=True)


class ComplianceViolationData(Schema):
    framework = fields.String(required=True, metadata={"description": "e.g. eu_ai_act, hipaa, gdpr"})
    rule = fields.String(required=True)
    severity = fields.String(required=True,
                             validate=validate.OneOf(["low", "medium", "high", "critical"]))
    message = fields.String(required=True)
    request_id = fields.String(allow_none=True, load_default=None, dump_default=None)
    receipt_id = fields.String(allow_none=True, load_default=None, dump_default=None)
    key_id = fields.String(allow_none=True, load_default=None, dump_default=None)


class LogCheckpointData(Schema):
    origin = fields.String(required=True, metadata={"description": "The log's name"})
    tree_size = fields.Integer(required=True, validate=validate.Range(min=1))
    root_hash = fields.String(required=True, metadata={"description": "Base64 SHA-256 root"})
    key_id = fields.String(required=True, metadata={"description": "Hex id of the signing key"})
    checkpoint = fields.String(required=True, metadata={
        "description": "The C2SP signed note, exactly as GET /api/health/log/checkpoint serves it"})


class WebhookTestData(Schema):
    endpoint_id = fields.String(required=True)
    message = fields.String(required=True)


class EndpointDisabledData(Schema):
    endpoint_id = fields.String(required=True)
    url = fields.String(required=True)
    reason = fields.String(required=True)
    failed_deliveries = fields.Integer(required=True,
                                       metadata={"description": "Deliveries failed for good in a row"})
    disabled_at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class EventType:
    name: str
    schema: type[Schema]
    description: str
    example: dict
    subscribable: bool = True  # webhook.test goes only where it is asked for

    def dump(self, data: dict) -> dict:
        """``data`` as sent (Decimals as strings); ValueError naming the field if it is wrong."""
        schema = self.schema()
        unknown = sorted(set(data) - set(schema.fields))
        if unknown:
            raise ValueError(f"{self.name} data has unknown field(s) {', '.join(unknown)}")
        try:
            return schema.dump(schema.load({name: _wire(value) for name, value in data.items()}))
        except ValidationError as exc:
            raise ValueError(f"{self.name} data is invalid: {exc.messages}") from None


def _wire(value):
    """A value as JSON carries it, so the schema loads Python and wire values alike."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


EVENT_TYPES: dict[str, EventType] = {t.name: t for t in [
    EventType(LOOP_DETECTED, LoopDetectedData,
              "A key's requests were refused as a loop (one event per episode).",
              {"key_id": "key_3kTq…", "pattern": "repeat", "count": 5, "window_seconds": 60.0,
               "fingerprints": ["5d41402abc4b2a76", "7d793037a0760186"]}),
    EventType(BUDGET_THRESHOLD_REACHED, BudgetData,
              "Spending this month reached a share of the budget (e.g. 80 %).",
              {"scope": "key", "key_id": "key_3kTq…", "budget_eur": "100.00", "spent_eur": "80.12",
               "threshold_percent": 80, "month": "2025-05"}),
    EventType(BUDGET_EXCEEDED, BudgetData, "Spending this month went over the budget.",
              {"scope": "account", "key_id": None, "budget_eur": "500.00", "spent_eur": "500.07",
               "threshold_percent": 100, "month": "2025-05"}),
    EventType(QUOTA_THRESHOLD_REACHED, QuotaData,
              "Requests this month reached a share of the monthly quota.",
              {"scope": "account", "key_id": None, "quota": 100000, "used": 90000,
               "threshold_percent": 90, "month": "2025-05"}),
    EventType(HIGH_RISK_DECISION, HighRiskDecisionData,
              "An AI-assisted decision was classed as high-risk (healthcare tier).",
              {"request_id": "req_9a…", "receipt_id": "rcpt_4f…", "key_id": "key_3kTq…",
               "model": "gpt-4o", "risk_level": "high", "risk_score": 0.91,
               "categories": ["dosage"], "summary": "Dosage recommendation for a paediatric patient"}),
    EventType(COMPLIANCE_VIOLATION, ComplianceViolationData,
              "A request or answer broke a compliance rule (healthcare tier).",
              {"framework": "eu_ai_act", "rule": "art_14_human_oversight", "severity": "high",
               "message": "A high-risk decision was returned without a reviewer.",
               "request_id": "req_9a…", "receipt_id": "rcpt_4f…", "key_id": "key_3kTq…"}),
    EventType(LOG_CHECKPOINT, LogCheckpointData,
              "The healthcare transparency log signed a new checkpoint (healthcare tier); keep "
              "copies to prove later that its history was only ever appended to.",
              {"origin": "aqta.example/healthcare-log", "tree_size": 1042,
               "root_hash": "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=", "key_id": "c74f20a3",
               "checkpoint": "aqta.example/healthcare-log\n1042\n"
                             "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
                             "\u2014 aqta.example/healthcare-log x08go/ZJku…\n"}),
    EventType(WEBHOOK_TEST, WebhookTestData, "Sent by POST /api/webhooks/{id}/test.",
              {"endpoint_id": "ep_Zx…", "message": "This is a test event from Aqta."},
              subscribable=False),
    EventType(ENDPOINT_DISABLED, EndpointDisabledData,
              "Aqta disabled one of your endpoints after deliveries kept failing.",
              {"endpoint_id": "ep_Zx…", "url": "https://example.com/hooks", "failed_deliveries": 5,
               "reason": "5 deliveries in a row failed after every retry (last: HTTP 503)",
               "disabled_at": "2025-05-02T09:14:03.120000+00:00"}),
]}
SUBSCRIBABLE = sorted(name for name, t in EVENT_TYPES.items() if t.subscribable)


def event_type(name: str) -> EventType:
    """The event type called ``name``; ValueError for one Aqta does not know."""
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown webhook event type {name!r}; known: {', '.join(EVENT_TYPES)}") from None
