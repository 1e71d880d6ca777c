"""API keys: create (shown once), list, revoke. Callers see only their own keys."""
from __future__ import annotations

from types import SimpleNamespace

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

import storage.keys as keys_repo
from app.api.schemas import AUTHENTICATED
from app.errors import InsufficientTier
from app.gateway.admission.rate_limits import monthly_quota, requests_per_minute
from app.gateway.loops.detector import THRESHOLDS_SCHEMA, LoopThresholds
from app.identity.api_keys import generate_key, key_cache
from app.identity.authentication import current_principal, login_required
from app.tiers import TIERS

blp = Blueprint("keys", __name__, url_prefix="/api/keys", description="API keys")


class KeySchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The key's first characters"})
    last_four = fields.String(required=True)
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


def check_lowering(name: str, requested: int | None, tier_value: int, current: int) -> None:
    """Owners may only lower a limit; going above the tier takes the operator CLI."""
    if requested is not None and requested > max(tier_value, current):
        raise InsufficientTier(f"{name} {requested:,} is above your tier's {tier_value:,}; "
                               "an operator can raise it with 'aqta set-limits'.")


@blp.route("")
@blp.response(200, KeyListSchema)
@blp.alt_response(401, description="Not authenticated")
@blp.doc(security=AUTHENTICATED)
@login_required
def list_keys():
    """The caller's live keys, newest first (never the key itself)."""
    return {"data": keys_repo.list_for_user(current_principal().user_id)}


@blp.route("", methods=["POST"])
@blp.arguments(NewKeySchema, required=False)
@blp.response(201, CreatedKeySchema)
@blp.alt_response(401, description="Not authenticated")
@blp.doc(security=AUTHENTICATED)
@login_required
def create_key(body):
    """Create a key. Its value is in this response only; store it now."""
    new = generate_key()
    record = keys_repo.create(current_principal().user_id, body.get("name", "default"),
                              new.key_hash, new.prefix, new.last_four)
    return SimpleNamespace(**record.__dict__, key=new.plaintext)


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
    user_id = current_principal().user_id
    key = keys_repo.get_for_user(user_id, key_id)
    tier = TIERS[key.tier]
    check_lowering("rpm_limit", changes.get("rpm_limit"), tier.requests_per_minute,
                   requests_per_minute(key))
    check_lowering("monthly_quota", changes.get("monthly_quota"), tier.monthly_requests,
                   monthly_quota(key))
    updated = keys_repo.set_limits(user_id, key_id, **changes)
    key_cache().forget(key_id)
    return updated


@blp.route("/<string:key_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No such key of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def delete_key(key_id):
    """Revoke a key: it stops working on every instance within a second."""
    keys_repo.revoke(current_principal().user_id, key_id)
    key_cache().forget(key_id)
