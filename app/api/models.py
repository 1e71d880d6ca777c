"""``GET /v1/models``: the models the key's tier may use, with their prices in EUR."""
from __future__ import annotations

import orjson
from flask import Response
from flask_smorest import Blueprint

from app.api.openai_schemas import ModelListSchema, ModelSchema
from app.gateway.catalogue import gateway
from app.gateway.routing import ModelEntry, ModelNotFound
from app.identity.authentication import authenticate_key

blp = Blueprint("models", __name__, url_prefix="/v1", description="Models and their prices")
# OpenAI lists a creation time per model; ours is when the registry format began.
REGISTRY_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z, seconds


def describe(entry: ModelEntry) -> dict:
    price = gateway().prices.price(entry.id)
    return {"id": entry.id, "object": "model", "created": REGISTRY_EPOCH, "owned_by": entry.provider,
            "aqta": {"provider": entry.provider,
                     "price_eur_per_million_tokens": {"input": str(price.input),
                                                      "output": str(price.output)}}}


def json_response(payload: dict) -> Response:
    return Response(orjson.dumps(payload), mimetype="application/json")


@blp.route("/models")
@blp.doc(security=[{"bearerAuth": []}])
@blp.alt_response(200, schema=ModelListSchema, success=True, description="The models your key may use")
def list_models():
    """List the models this key may use (OpenAI's list format, plus EUR prices)."""
    key = authenticate_key()
    return json_response({"object": "list",
                          "data": [describe(entry) for entry in gateway().models_for(key.tier)]})


@blp.route("/models/<path:model>")
@blp.doc(security=[{"bearerAuth": []}])
@blp.alt_response(200, schema=ModelSchema, success=True, description="One model")
@blp.alt_response(404, description="model_not_found")
def get_model(model: str):
    """One model this key may use; 404 model_not_found otherwise."""
    key = authenticate_key()
    service = gateway()
    route = service.route(model, key.tier)
    if not service.configured(route.provider):
        raise ModelNotFound(model)
    entry = route.entry if not route.entry.id.endswith("*") else ModelEntry(
        route.model, route.entry.provider, route.entry.cheap)
    return json_response(describe(entry))
