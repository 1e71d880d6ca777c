"""Schemas of the webhooks API, and one documented component per event type."""
from __future__ import annotations

import re

from marshmallow import Schema, fields, validate

from app.api.schemas import StrictBoolean
from app.webhooks.events import EVENT_TYPES, SUBSCRIBABLE, EventType
from storage.webhooks import FAILED, PENDING, SUCCEEDED

EXAMPLE_TIMESTAMP = "2025-05-02T09:14:03.120000Z"
EVENT_TYPES_FIELD_HELP = ("Event types to receive; null or omitted: every type, future ones "
                          f"included. Known: {', '.join(SUBSCRIBABLE)}")


def _event_types_field(**kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=validate.OneOf(SUBSCRIBABLE)), allow_none=True,
        validate=validate.Length(min=1, error="subscribe to at least one type, or send null for all"),
        metadata={"description": EVENT_TYPES_FIELD_HELP, "example": ["loop.detected", "budget.exceeded"]},
        **kwargs)


class EndpointSchema(Schema):
    id = fields.String(required=True, metadata={"example": "ep_…"})
    url = fields.String(required=True)
    description = fields.String(required=True)
    event_types = _event_types_field(required=True)
    enabled = fields.Boolean(required=True)
    disabled_reason = fields.String(allow_none=True, metadata={
        "description": "Why Aqta disabled the endpoint (null unless it did); enable it to resume"})
    disabled_at = fields.AwareDateTime(allow_none=True)
    failed_deliveries_in_row = fields.Integer(attribute="failed_in_row", metadata={
        "description": "Deliveries failed after every retry since the last success"})
    previous_secret_expires_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "After a rotation, the old secret also signs until then"})
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class EndpointWithSecretSchema(EndpointSchema):
    secret = fields.String(required=True, metadata={
        "description": "The signing secret (whsec_…); shown only in this response", "example": "whsec_…"})


class EndpointListSchema(Schema):
    data = fields.List(fields.Nested(EndpointSchema), required=True)


# The scheme and a host, for the spec; the SSRF checks (unsafe_webhook_url) enforce it and more.
URL_PATTERN = r"^https?://[^\s/?#]+"


class NewEndpointSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048),
                        metadata={"example": "https://example.com/aqta-hooks", "pattern": URL_PATTERN})
    description = fields.String(load_default="", validate=validate.Length(max=500))
    event_types = _event_types_field(load_default=None)
    enabled = StrictBoolean(load_default=True)


class EndpointChangesSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=2048), metadata={"pattern": URL_PATTERN})
    description = fields.String(validate=validate.Length(max=500))
    event_types = _event_types_field()
    enabled = StrictBoolean(metadata={"description": "true also clears a disabled notice"})


class TestSentSchema(Schema):
    event_id = fields.String(required=True, metadata={"description": "The webhook-id it is sent with"})
    delivery_id = fields.String(required=True)


class AttemptSchema(Schema):
    attempt = fields.Integer(required=True, metadata={"description": "1 for the first"})
    started_at = fields.AwareDateTime(required=True)
    finished_at = fields.AwareDateTime(allow_none=True, metadata={"description": "null while in flight"})
    status_code = fields.Integer(allow_none=True, metadata={"description": "null when no answer came"})
    latency_ms = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    next_retry_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "When the retry this failure scheduled is due; null after a success or the last"})


class DeliverySchema(Schema):
    id = fields.String(required=True, metadata={"example": "dlv_…"})
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([PENDING, SUCCEEDED, FAILED]))
    attempt_count = fields.Integer(required=True, attribute="attempts")
    next_attempt_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "When the next attempt is due (pending deliveries)"})
    in_flight = fields.Boolean(required=True, metadata={"description": "A worker is sending it now"})
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    attempts = fields.List(fields.Nested(AttemptSchema), attribute="history", required=True,
                           metadata={"description": "Every attempt, newest first"})


class DeliveryListSchema(Schema):
    data = fields.List(fields.Nested(DeliverySchema), required=True)


class LimitQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class EventsQuerySchema(LimitQuerySchema):
    type = fields.String(validate=validate.OneOf(list(EVENT_TYPES)))


class EventSchema(Schema):
    id = fields.String(required=True, metadata={"example": "msg_…"})
    type = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    data = fields.Dict(required=True, metadata={"description": "As in the delivered body"})


class EventListSchema(Schema):
    data = fields.List(fields.Nested(EventSchema), required=True)


class EventTypeSchema(Schema):
    type = fields.String(required=True)
    description = fields.String(required=True)
    subscribable = fields.Boolean(required=True)
    schema = fields.String(required=True, metadata={"description": "Its component in /openapi.json"})
    example = fields.Dict(required=True, metadata={"description": "A whole delivered body"})


class EventTypeListSchema(Schema):
    data = fields.List(fields.Nested(EventTypeSchema), required=True)


def component_name(kind: EventType) -> str:
    return "".join(part.title() for part in re.split(r"[._]", kind.name)) + "Event"


def example_body(kind: EventType) -> dict:
    return {"type": kind.name, "timestamp": EXAMPLE_TIMESTAMP, "data": kind.example}


def register(spec) -> None:
    """One component per event type: the delivered body, its data schema and an example."""
    for kind in EVENT_TYPES.values():
        envelope = Schema.from_dict({
            "type": fields.String(required=True, validate=validate.OneOf([kind.name])),
            "timestamp": fields.AwareDateTime(required=True, metadata={"description": "When it happened"}),
            "data": fields.Nested(kind.schema, required=True),
        }, name=component_name(kind))
        spec.components.schema(component_name(kind), schema=envelope, component={
            "description": f"{kind.name}: {kind.description}", "example": example_body(kind)})
