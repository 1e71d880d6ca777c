"""Schemas shared by several blueprints."""
from __future__ import annotations

from marshmallow import Schema, fields

# Every route that needs a caller accepts an API key or the session cookie.
AUTHENTICATED = [{"bearerAuth": []}, {"cookieAuth": []}]


class ErrorDetailSchema(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True)
    code = fields.String(required=True)
    param = fields.String()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)


class UserSchema(Schema):
    id = fields.String(required=True)
    email = fields.String(required=True)
    tier = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
