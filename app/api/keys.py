"""API keys: create (shown once), list, revoke. Callers see only their own keys."""
from __future__ import annotations

from types import SimpleNamespace

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.api.schemas import AUTHENTICATED
from app.gateway.admission.rate_limits import monthly_quota, requests_per_minute
from app.gateway.loops.detector import THRESHOLDS_SCHEMA, LoopThresholds
from app.identity.api_keys import INFERENCE, SCOPES, live_keys, revoke_key, set_key_limits
from app.identity.api_keys import create_key as create_account_key
from app.identity.authentication import current_principal, login_required

blp = Blueprint("keys", __name__, url_prefix="/api/keys", description="API keys")


class KeySchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The key's first characters"})
    last_four = fields.String(required=True)
    scope = fields.String(required=True, metadata={
        "enum": list(SCOPES), "description": "inference: chat and models only; admin: "
                                             "managing keys, webhooks, budgets… too"})
    tier = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(allow_none=True)
    rpm_limit = fields.Function(requests_per_minute, metadata={"description": "Requests per minute"})
    monthly_quota = fields.Function(monthly_quota, metadata={"description": "Requests per month"})
    loop_detection = fields.Dict(attribute="loop_settings", allow_none=True,
                                 metadata={"description": "This key's loop-detection thresholds "
                                                          "(null: the defaults)"})


class CreatedKeySchema(KeySchema):
    key = fields.String(required=True, metadata={"description": "The whole key; shown only now"})


class KeyListSchema(Schema):
    data = fields.List(fields.Nested(KeySchema), required=True)


class NewKeySchema(Schema):
    name = fields.String(load_default="default", validate=validate.Length(min=1, max=100))
    scope = fields.String(load_default=INFERENCE, validate=validate.OneOf(SCOPES), metadata={
        "description": "inference (the default): chat and models only; admin: management too"})


class KeyLimitsSchema(Schema):
    rpm_limit = fields.Integer(allow_none=True, validate=validate.Range(min=1),
                               metadata={"description": "null: the tier's"})
    monthly_quota = fields.Integer(allow_none=True, validate=validate.Range(min=1),
                                   metadata={"description": "null: the tier's"})
    loop_detection = fields.Dict(
        allow_none=True, data_key="loop_detection", attribute="loop_settings",
        metadata={"description": "Loop-detection thresholds to change, e.g. {\"repeat_count\": 8, "
                                 "\"window_seconds\": 120} or {\"enabled\": false}; null: defaults",
                  "example": {"repeat_count": 8}, **THRESHOLDS_SCHEMA})

    @validates_schema
    def check_not_empty(self, data, **_):
        if not data:
            raise ValidationError("send at least one of rpm_limit, monthly_quota, loop_detection")

    @validates("loop_detection")
    def check_thresholds(self, value, **_):
        if value is None:
            return
        try:
            LoopThresholds(**value)
        except TypeError as exc:
            raise ValidationError(f"unknown threshold: {exc}") from None
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


@blp.route("")
@blp.response(200, KeyListSchema)
@blp.alt_response(401, description="Not authenticated")
@blp.doc(security=AUTHENTICATED)
@login_required
def list_keys():
    """The caller's live keys, newest first (never the key itself)."""
    return {"data": live_keys(current_principal().user_id)}


@blp.route("", methods=["POST"])
@blp.arguments(NewKeySchema, required=False)
@blp.response(201, CreatedKeySchema)
@blp.alt_response(401, description="Not authenticated")
@blp.alt_response(409, description="too_many_keys: the account has 100 live keys")
@blp.doc(security=AUTHENTICATED)
@login_required
def create_key(body):
    """Create a key (an inference key unless asked). Its value is in this response only."""
    record, plaintext = create_account_key(current_principal().user_id, body.get("name", "default"),
                                           scope=body.get("scope", INFERENCE))
    return SimpleNamespace(**record.__dict__, key=plaintext)


@blp.route("/<string:key_id>", methods=["PATCH"])
@blp.arguments(KeyLimitsSchema)
@blp.response(200, KeySchema)
@blp.alt_response(403, description="insufficient_tier: above the tier's limit")
@blp.alt_response(404, description="No such key of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def update_key_limits(changes, key_id):
    """Lower a key's rate limit or monthly quota (null returns it to the tier's), or tune its
    loop detection."""
    return set_key_limits(current_principal().user_id, key_id, **changes)


@blp.route("/<string:key_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No such key of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def delete_key(key_id):
    """Revoke a key: it stops working on every instance within a second."""
    revoke_key(current_principal().user_id, key_id)
