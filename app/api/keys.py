"""API keys: create (shown once), list, revoke. Callers see only their own keys."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

import storage.keys as keys_repo
from app.api.schemas import AUTHENTICATED
from app.authn import current_principal, login_required
from app.keys import generate_key, key_cache

blp = Blueprint("keys", __name__, url_prefix="/api/keys", description="API keys")


class KeySchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The key's first characters"})
    last_four = fields.String(required=True)
    tier = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(allow_none=True)


class CreatedKeySchema(KeySchema):
    key = fields.String(required=True, metadata={"description": "The whole key; shown only now"})


class KeyListSchema(Schema):
    data = fields.List(fields.Nested(KeySchema), required=True)


class NewKeySchema(Schema):
    name = fields.String(load_default="default", validate=validate.Length(min=1, max=100))


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
    return {**record.__dict__, "key": new.plaintext}


@blp.route("/<string:key_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No such key of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def delete_key(key_id):
    """Revoke a key: it stops working on every instance within a second."""
    keys_repo.revoke(current_principal().user_id, key_id)
    key_cache().forget(key_id)
