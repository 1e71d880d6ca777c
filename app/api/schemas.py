"""Schemas shared by several blueprints."""
from __future__ import annotations

import re

from flask_smorest import Api
from marshmallow import Schema, ValidationError, fields

# Every route that needs a caller accepts an API key or the session cookie.
AUTHENTICATED = [{"bearerAuth": []}, {"cookieAuth": []}]


class DecimalString(fields.Decimal):
    """An exact decimal as a JSON string, both ways: JSON parsers round numbers' digits.

    With ``metadata={"pattern": …}`` the string must match it.
    """

    def __init__(self, **kwargs):
        super().__init__(as_string=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        pattern = self.metadata.get("pattern")
        if not isinstance(value, str) or (pattern and not re.match(pattern, value)):
            raise ValidationError(self.metadata.get("invalid", "must be a decimal string"))
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """true or false, and nothing else (marshmallow's Boolean also takes 0, 1, "yes", ...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def register_fields(api: Api) -> None:
    api.register_field(DecimalString, "string", "decimal")


class ErrorDetailSchema(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True)
    code = fields.String(required=True)
    param = fields.String()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)


# The header a 503 (or 429) carries: when to try again.
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                               "schema": {"type": "integer", "minimum": 1}}}


class UserSchema(Schema):
    id = fields.String(required=True)
    email = fields.String(required=True)
    tier = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
