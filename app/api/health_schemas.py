"""Schemas of the healthcare receipts and transparency log API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.analytics_schemas import Instant
from app.healthcare.exports import FORMATS

MAX_PAGE = 500  # receipts per page


class ReceiptsQuerySchema(Schema):
    since = Instant(metadata={"description": "Only receipts at or after this time (ISO 8601, UTC)"})
    until = Instant(metadata={"description": "Only receipts before this time (exclusive)"})
    key = fields.String(metadata={"description": "Only this API key's receipts (its id, key_…)"})
    model = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE),
                           metadata={"description": f"Receipts per page, at most {MAX_PAGE}"})
    cursor = fields.String(metadata={"description": "next_cursor from the previous page"})


class ReceiptPageSchema(Schema):
    data = fields.List(fields.Dict(), required=True, metadata={
        "description": "Receipts, newest first: each is the receipt (its status is the answer's "
                       "outcome: ok, cached, error or client_disconnected) with its leaf_index and "
                       "log_status (pending or sequenced)"})
    next_cursor = fields.String(allow_none=True, required=True)


class BundleSchema(Schema):
    receipt = fields.Dict(required=True, metadata={"description": "The receipt: the log leaf's JSON"})
    status = fields.String(required=True, validate=validate.OneOf(["pending", "sequenced"]))
    leaf_index = fields.Integer(allow_none=True, required=True)
    leaf_hash = fields.String(allow_none=True, required=True,
                              metadata={"description": "Base64 SHA-256(0x00 ‖ canonical receipt)"})
    tree_size = fields.Integer(metadata={"description": "Size of the tree the proof is against"})
    inclusion_proof = fields.List(fields.String(), metadata={"description": "RFC 9162 path, base64"})
    checkpoint = fields.String(metadata={"description": "The C2SP signed checkpoint of that tree"})
    amendments = fields.List(fields.Dict(), metadata={
        "description": "Leaves amending the receipt, oldest first: its risk assessment (kind "
                       "risk_assessment) and clinicians' reviews (kind review), each a bundle with the "
                       "leaf under amendment, its own inclusion proof and checkpoint"})
    oversight = fields.Nested(lambda: OversightSchema(), metadata={
        "description": "The answer's risk, clinicians' reviews and compliance violations (open until a "
                       "review after they were raised clears them), as the tables hold them"})


class RiskSchema(Schema):
    level = fields.String(required=True, validate=validate.OneOf(["low", "medium", "high"]))
    score = fields.String(required=True, metadata={"description": "0.000 to 1.000, as a decimal string"})
    categories = fields.List(fields.String(), required=True)
    assessed_at = fields.AwareDateTime(required=True)


class ReviewSummarySchema(Schema):
    id = fields.String(required=True)
    reviewer = fields.String(required=True)
    outcome = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)


class ViolationSchema(Schema):
    framework = fields.String(required=True)
    rule = fields.String(required=True)
    severity = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["open", "cleared"]))
    cleared_by_review = fields.String(allow_none=True, required=True)


class OversightSchema(Schema):
    risk = fields.Nested(RiskSchema, allow_none=True, required=True,
                         metadata={"description": "null until the answer is assessed (seconds)"})
    reviews = fields.List(fields.Nested(ReviewSummarySchema), required=True)
    violations = fields.List(fields.Nested(ViolationSchema), required=True)


class VerifyBodySchema(Schema):
    request = fields.Dict(metadata={"description": "The original request body, to check its commitment"})
    answer = fields.Dict(metadata={"description": "The completion as received, to check its commitment"})


class CheckSchema(Schema):
    name = fields.String(required=True)
    ok = fields.Boolean(required=True)
    detail = fields.String(required=True)


class VerifyResultSchema(Schema):
    receipt_id = fields.String(required=True)
    valid = fields.Boolean(required=True)
    status = fields.String(required=True)
    checks = fields.List(fields.Nested(CheckSchema), required=True)


class ExportQuerySchema(Schema):
    format = fields.String(load_default="jsonl", validate=validate.OneOf(FORMATS))
    since = Instant()
    until = Instant()


class LogKeySchema(Schema):
    vkey = fields.String(required=True, metadata={"description": "C2SP verifier key: name+id+base64"})
    key_id = fields.String(required=True)
    active = fields.Boolean(required=True, metadata={"description": "Signs new checkpoints"})


class LogKeysSchema(Schema):
    origin = fields.String(required=True)
    keys = fields.List(fields.Nested(LogKeySchema), required=True)


class ConsistencyQuerySchema(Schema):
    old = fields.Integer(required=True, data_key="from", validate=validate.Range(min=1))
    new = fields.Integer(required=True, data_key="to", validate=validate.Range(min=1))


class ConsistencySchema(Schema):
    old = fields.Integer(required=True, data_key="from")
    new = fields.Integer(required=True, data_key="to")
    proof = fields.List(fields.String(), required=True, metadata={"description": "RFC 9162 proof, base64"})


class ReviewBodySchema(Schema):
    reviewer = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={
        "description": "Who reviewed: a clinician's name or staff id (stored as given)"})
    outcome = fields.String(required=True, validate=validate.OneOf(["approved", "amended", "rejected"]))
    note = fields.String(validate=validate.Length(max=10_000), metadata={
        "description": "Free text; may mention the patient, so only its HMAC commitment is kept"})


class ReviewSchema(Schema):
    amendment = fields.Dict(required=True, metadata={"description": "The review's leaf (pending until "
                                                                     "sequenced, about a second)"})


class HealthSettingsSchema(Schema):
    high_risk_models = fields.List(fields.String(validate=validate.Length(min=1, max=100)), required=True,
                                   metadata={"description": "Models approved for high-risk decisions; "
                                                            "an empty list approves every model"})
