"""Schemas of the audit trail route."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.analytics_schemas import Instant

MAX_PAGE = 500  # events per page
FORMATS = ("json", "fhir")
_NAME = validate.Length(min=1, max=80)


class AuditTrailQuerySchema(Schema):
    since = Instant(metadata={"description": "Only events recorded at or after this time (ISO 8601, UTC)"})
    until = Instant(metadata={"description": "Only events recorded before this time (exclusive)"})
    action = fields.String(validate=_NAME, metadata={
        "description": "Only this action type, e.g. key.created, auth.login", "example": "key.created"})
    actor = fields.String(validate=_NAME, metadata={
        "description": "Only this agent: a user id (usr_…), key id (key_…) or operator:<login>"})
    entity_type = fields.String(validate=_NAME, metadata={
        "description": "Only actions on this kind of thing: account, key, budget, webhook_endpoint, "
                       "receipt, export, report, log"})
    entity_id = fields.String(validate=_NAME, metadata={"description": "Only actions on this thing"})
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS), metadata={
        "description": "json: leaf bundles; fhir: a FHIR R5 Bundle (searchset) of AuditEvent resources"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE),
                           metadata={"description": f"Events per page, at most {MAX_PAGE}"})
    cursor = fields.String(metadata={"description": "next_cursor from the previous page"})


class AuditTrailPageSchema(Schema):
    data = fields.List(fields.Dict(), required=True, metadata={
        "description": "Events, newest first, each a leaf bundle: the event under audit_event, status "
                       "(pending or sequenced), leaf_index, leaf_hash, and once sequenced tree_size, "
                       "inclusion_proof and the signed checkpoint"})
    next_cursor = fields.String(allow_none=True, required=True)
