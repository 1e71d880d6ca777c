"""``POST /v1/chat/completions``: OpenAI's chat API in front of every provider."""
from __future__ import annotations

import logging
from decimal import Decimal

import orjson
from flask import Response, g, request, stream_with_context
from flask_smorest import Blueprint

from app.api.openai_schemas import ref
from app.authn import authenticate_key
from app.errors import InvalidRequest
from app.gateway import admission
from app.gateway.routing import Route
from app.gateway.service import gateway
from app.gateway.streaming import StreamOutcome, relay
from app.gateway.validation import validate_chat_request
from providers.base import ChatRequest, Usage
from storage.records import ApiKeyRecord

log = logging.getLogger("aqta.requests")
blp = Blueprint("chat", __name__, url_prefix="/v1", description="OpenAI-compatible chat completions")

ERRORS = {status: {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
          for status, text in (("400", "invalid_request"), ("401", "invalid_api_key"),
                               ("403", "model_not_allowed"), ("404", "model_not_found"),
                               ("502", "provider_error"), ("503", "provider_not_configured"),
                               ("504", "provider_timeout"))}


def read_json_body() -> object:
    try:
        return orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})", field="body") from None


def aqta_block(route: Route, cost: Decimal) -> dict:
    return {"cost_eur": str(cost), "provider": route.provider, "cached": False,
            "loop_detected": False, "request_id": g.request_id}


def record(key: ApiKeyRecord, route: Route, usage: Usage, cost: Decimal, status: str,
           estimated: bool = False) -> None:
    """Note what a request consumed (the request log takes this over from the log line)."""
    log.info("request=%s key=%s model=%s provider=%s status=%s prompt_tokens=%d "
             "completion_tokens=%d cost_eur=%s%s", g.request_id, key.id, route.model,
             route.provider, status, usage.prompt_tokens, usage.completion_tokens, cost,
             " (estimated)" if estimated else "")


def prompt_chars(body: dict) -> int:
    total = 0
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(part.get("text", "")) for part in content)
    return total


@blp.route("/chat/completions", methods=["POST"])
@blp.doc(
    summary="Create a chat completion",
    description="OpenAI's chat completions API, answered by whichever provider serves the "
                "model. Every answer carries an `aqta` block; in a stream it rides on the "
                "final chunk.",
    security=[{"bearerAuth": []}],
    requestBody={"required": True,
                 "content": {"application/json": {"schema": ref("ChatCompletionRequest")}}},
    responses={"200": {"description": "A completion, or server-sent chunks when stream is true",
                       "content": {"application/json": {"schema": ref("ChatCompletion")},
                                   "text/event-stream": {"schema": {"type": "string"}}}},
               **ERRORS},
)
def chat_completions():
    key = authenticate_key()
    body = validate_chat_request(read_json_body())
    service = gateway()
    route = service.route(body["model"], key.tier)
    provider = service.provider(route.provider)
    upstream_request = ChatRequest(route.model, body)
    reservation = admission.admit(key)
    try:
        if body.get("stream"):
            return stream_completion(key, route, provider, upstream_request)
        answer = provider.chat(upstream_request)
    except Exception:
        # Refused or failed before any token: the request does not use quota.
        admission.release(reservation)
        raise
    cost = service.cost(route, answer.usage)
    record(key, route, answer.usage, cost, "ok")
    payload = {**answer.body, "aqta": aqta_block(route, cost)}
    return Response(orjson.dumps(payload), mimetype="application/json")


def stream_completion(key, route, provider, upstream_request) -> Response:
    chunks = provider.stream(upstream_request)
    # Wait for the first chunk before answering, so an upstream that fails before
    # any token gets a real HTTP error status the SDKs understand.
    first = next(chunks)
    service = gateway()

    def finish(outcome: StreamOutcome) -> dict:
        cost = service.cost(route, outcome.usage)
        record(key, route, outcome.usage, cost, outcome.status, outcome.usage_estimated)
        return aqta_block(route, cost)

    body = relay(first, chunks, prompt_chars=prompt_chars(upstream_request.body), finish=finish,
                 include_usage=bool((upstream_request.body.get("stream_options") or {})
                                    .get("include_usage")))
    return Response(stream_with_context(body), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
