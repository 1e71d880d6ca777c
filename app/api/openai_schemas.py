"""OpenAPI documentation of the OpenAI-compatible surface.

These schemas document; they do not validate. The hot path validates with the
pure function in ``app.gateway.validation``, which is many times faster.
"""
from __future__ import annotations

from marshmallow import Schema, fields


class MessageSchema(Schema):
    role = fields.String(required=True, metadata={"enum": ["system", "developer", "user",
                                                            "assistant", "tool"]})
    content = fields.Raw(metadata={"description": "A string or a list of content parts"})
    name = fields.String()
    tool_calls = fields.List(fields.Dict())
    tool_call_id = fields.String()


class ChatCompletionRequestSchema(Schema):
    model = fields.String(required=True, metadata={"example": "mock-1"})
    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           metadata={"example": [{"role": "user", "content": "Hello"}]})
    temperature = fields.Float()
    top_p = fields.Float()
    max_tokens = fields.Integer()
    max_completion_tokens = fields.Integer()
    stop = fields.Raw(metadata={"description": "A string or up to 4 strings"})
    n = fields.Integer()
    seed = fields.Integer()
    stream = fields.Boolean()
    stream_options = fields.Dict()
    tools = fields.List(fields.Dict())
    tool_choice = fields.Raw()
    response_format = fields.Dict()
    user = fields.String()
    presence_penalty = fields.Float()
    frequency_penalty = fields.Float()


class AqtaBlockSchema(Schema):
    cost_eur = fields.String(required=True, metadata={"description": "Exact decimal EUR, as a string",
                                                      "example": "0.00001290"})
    provider = fields.String(required=True)
    cached = fields.Boolean(required=True)
    loop_detected = fields.Boolean(required=True)
    request_id = fields.String(required=True)


class ChatCompletionSchema(Schema):
    id = fields.String()
    object = fields.String(metadata={"example": "chat.completion"})
    created = fields.Integer()
    model = fields.String()
    choices = fields.List(fields.Dict())
    usage = fields.Dict()
    aqta = fields.Nested(AqtaBlockSchema)


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
                         ("ChatCompletion", ChatCompletionSchema)):
        spec.components.schema(name, schema=schema)


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}
