"""OpenAPI documentation of the OpenAI-compatible surface.

These schemas document; they do not validate. The hot path validates with the
pure function in ``app.gateway.validation``, which is many times faster.
"""
from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields

from app.api.schemas import ErrorSchema
from app.gateway.validation import MAX_MODEL_CHARS, MAX_N, MAX_STOP_SEQUENCES, RESPONSE_FORMATS, ROLES


class MessageSchema(Schema):
    role = fields.String(required=True, metadata={"enum": sorted(ROLES)})
    content = fields.Raw(metadata={"description": "A string or a list of content parts"})
    name = fields.String()
    tool_calls = fields.List(fields.Dict())
    tool_call_id = fields.String()


def _range(low: float, high: float | None = None, **extra) -> dict:
    bounds = {"minimum": low, **({"maximum": high} if high is not None else {})}
    return {"metadata": {**bounds, **extra}}


class ChatCompletionRequestSchema(Schema):
    model = fields.String(required=True, metadata={"example": "mock-1", "minLength": 1,
                                                   "maxLength": MAX_MODEL_CHARS})
    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           metadata={"minItems": 1, "example": [{"role": "user", "content": "Hello"}]})
    temperature = fields.Float(allow_none=True, **_range(0, 2))
    top_p = fields.Float(allow_none=True, **_range(0, 1))
    max_tokens = fields.Integer(allow_none=True, **_range(1))
    max_completion_tokens = fields.Integer(allow_none=True, **_range(1))
    stop = fields.Raw(allow_none=True,
                      metadata={"description": f"A string or up to {MAX_STOP_SEQUENCES} strings"})
    n = fields.Integer(allow_none=True, **_range(1, MAX_N))
    seed = fields.Integer(allow_none=True)
    stream = fields.Boolean(allow_none=True)
    stream_options = fields.Dict(allow_none=True, metadata={
        "description": "Only with stream true", "properties": {"include_usage": {"type": "boolean"}}})
    tools = fields.List(fields.Dict(), allow_none=True)
    tool_choice = fields.Raw(allow_none=True)
    response_format = fields.Dict(allow_none=True, metadata={
        "required": ["type"], "properties": {"type": {"type": "string", "enum": sorted(RESPONSE_FORMATS)}}})
    user = fields.String(allow_none=True)
    presence_penalty = fields.Float(allow_none=True, **_range(-2, 2))
    frequency_penalty = fields.Float(allow_none=True, **_range(-2, 2))


class AqtaBlockSchema(Schema):
    cost_eur = fields.Float(required=True, metadata={
        "description": "EUR, a JSON number with the exact decimal digits (never exponent notation)",
        "minimum": 0, "example": 0.0000129})
    saved_eur = fields.Float(metadata={"description": "On a cache hit: what the answer would have "
                                                      "cost, as cost_eur", "minimum": 0})
    provider = fields.String(required=True)
    cached = fields.Boolean(required=True)
    loop_detected = fields.Boolean(required=True)
    request_id = fields.String(required=True)


class ChatCompletionSchema(Schema):
    class Meta:
        unknown = INCLUDE  # upstreams add fields (system_fingerprint, service_tier, ...)

    id = fields.String()
    object = fields.String(metadata={"example": "chat.completion"})
    created = fields.Integer()
    model = fields.String()
    choices = fields.List(fields.Dict())
    usage = fields.Dict()
    aqta = fields.Nested(AqtaBlockSchema)


class LoopBlockSchema(Schema):
    loop_detected = fields.Boolean(required=True)
    pattern = fields.String(required=True, metadata={"enum": ["repeat", "near_duplicate", "cycle"]})
    count = fields.Integer(required=True, metadata={"description": "requests the loop spans"})
    window_seconds = fields.Float(required=True)
    request_id = fields.String()


class LoopErrorSchema(ErrorSchema):
    """429 ``loop_detected``: the error shape, with what was seen in the ``aqta`` block."""

    aqta = fields.Nested(LoopBlockSchema, required=True)


class ModelPriceSchema(Schema):
    input = fields.String(metadata={"description": "EUR per million prompt tokens"})
    output = fields.String(metadata={"description": "EUR per million completion tokens"})


class ModelAqtaSchema(Schema):
    provider = fields.String()
    price_eur_per_million_tokens = fields.Nested(ModelPriceSchema)


class ModelSchema(Schema):
    id = fields.String(required=True)
    object = fields.String(metadata={"example": "model"})
    created = fields.Integer()
    owned_by = fields.String()
    aqta = fields.Nested(ModelAqtaSchema)


class ModelListSchema(Schema):
    object = fields.String(metadata={"example": "list"})
    data = fields.List(fields.Nested(ModelSchema))


def register(spec) -> None:
    for name, schema in (("ChatCompletionRequest", ChatCompletionRequestSchema),
                         ("ChatCompletion", ChatCompletionSchema), ("LoopError", LoopErrorSchema)):
        spec.components.schema(name, schema=schema)


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}
