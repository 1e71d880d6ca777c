"""``POST /v1/chat/completions``: OpenAI's chat API in front of every provider."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import orjson
from flask import Response, g, request, stream_with_context
from flask_smorest import Blueprint

from app.api.openai_schemas import ref
from app.authn import authenticate_key
from app.errors import AqtaError, InvalidRequest
from app.gateway import admission, budgets
from app.gateway.cache import CacheHit, chunks_to_completion, recording, response_cache
from app.gateway.loops import LoopDetected
from app.gateway.recording import ZERO_EUR, Attempt
from app.gateway.routing import Route
from app.gateway.service import gateway
from app.gateway.streaming import StreamOutcome, relay
from app.gateway.validation import validate_chat_request
from app.healthcare import receipts
from providers.base import ChatRequest

blp = Blueprint("chat", __name__, url_prefix="/v1", description="OpenAI-compatible chat completions")

ERRORS = {status: {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
          for status, text in (("400", "invalid_request"), ("401", "invalid_api_key"),
                               ("402", "quota_exceeded or budget_exceeded"),
                               ("403", "model_not_allowed"), ("404", "model_not_found"),
                               ("429", "rate_limit_exceeded or loop_detected"),
                               ("502", "provider_error"),
                               ("503", "provider_not_configured or quota_unavailable"),
                               ("504", "provider_timeout"))}


def read_json_body() -> object:
    try:
        return orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})", field="body") from None


@dataclass(frozen=True)
class Call:
    """One admitted chat request on its way through the gateway."""

    attempt: Attempt
    route: Route
    body: dict
    cache_key: str | None  # set when the answer may be served from, and stored in, the cache

    @property
    def include_usage(self) -> bool:
        return bool((self.body.get("stream_options") or {}).get("include_usage"))


def aqta_block(provider: str, cost: Decimal, saved: Decimal | None = None,
               receipt_id: str | None = None) -> dict:
    block = {"cost_eur": str(cost), "provider": provider, "cached": saved is not None,
             "loop_detected": False, "request_id": g.request_id}
    if saved is not None:
        block["saved_eur"] = str(saved)
    if receipt_id is not None:
        block["receipt_id"] = receipt_id
    return block


def prompt_chars(body: dict) -> int:
    total = 0
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(part.get("text", "")) for part in content)
    return total


def json_response(payload: dict) -> Response:
    return Response(orjson.dumps(payload), mimetype="application/json")


def sse_response(events) -> Response:
    return Response(stream_with_context(events), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


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
    attempt = Attempt(key, g.request_id)
    try:
        return answer(attempt)
    except AqtaError as exc:
        attempt.close("error", error_code=exc.code, loop_detected=isinstance(exc, LoopDetected))
        raise
    except Exception:
        attempt.close("error", error_code="internal_error")
        raise


def answer(attempt: Attempt) -> Response:
    body = validate_chat_request(read_json_body())
    attempt.routed(body["model"], "")
    service = gateway()
    route = service.route(body["model"], attempt.key.tier)
    attempt.routed(route.model, route.provider)
    provider = service.provider(route.provider)
    admitted = admission.admit(attempt.key, body)
    try:
        cache = response_cache()
        call = Call(attempt, route, body, cache.key_for(attempt.key.user_id, body, request.headers))
        hit = cache.lookup(call.cache_key)
        if hit is not None:
            return cached_answer(call, hit)
        if body.get("stream"):
            return stream_answer(call, provider)
        completion = provider.chat(ChatRequest(route.model, body))
    except Exception:
        # Failed before any token: the request does not use quota.
        admission.refund(admitted)
        raise
    cost = service.cost(route, completion.usage)
    budgets.spend(attempt.key, cost)
    cache.store(call.cache_key, completion.body, route.provider, cost)
    attempt.close("ok", usage=completion.usage, cost=cost, request=body, answer=completion.body)
    return json_response({**completion.body,
                          "aqta": aqta_block(route.provider, cost, receipt_id=attempt.receipt_id)})


def cached_answer(call: Call, hit: CacheHit) -> Response:
    """The stored answer, free, as JSON or replayed as a stream."""
    call.attempt.close("cached", saved=hit.saved_eur, cached=True, request=call.body,
                       answer=hit.completion)
    block = aqta_block(hit.provider, ZERO_EUR, saved=hit.saved_eur, receipt_id=call.attempt.receipt_id)
    if not call.body.get("stream"):
        return json_response({**hit.completion, "aqta": block})
    chunks = hit.chunks()
    return sse_response(relay(chunks[0], (chunk for chunk in chunks[1:]),
                              include_usage=call.include_usage, prompt_chars=0,
                              finish=lambda outcome: block))


def stream_answer(call: Call, provider) -> Response:
    seen: list[dict] = []
    chunks = provider.stream(ChatRequest(call.route.model, call.body))
    if call.cache_key or receipts.wants_receipt(call.attempt.key):
        chunks = recording(chunks, seen)
    # Wait for the first chunk before answering, so an upstream that fails before
    # any token gets a real HTTP error status the SDKs understand.
    first = next(chunks)
    call.attempt.first_token()
    service, cache = gateway(), response_cache()

    def finish(outcome: StreamOutcome) -> dict:
        cost = service.cost(call.route, outcome.usage)
        budgets.spend(call.attempt.key, cost)
        if outcome.status == "ok" and not outcome.usage_estimated and call.cache_key:
            cache.store(call.cache_key, chunks_to_completion(seen), call.route.provider, cost)
        answered = outcome.status == "ok" and receipts.wants_receipt(call.attempt.key)
        call.attempt.close("error" if outcome.error else outcome.status, usage=outcome.usage,
                           cost=cost, error_code=outcome.error.code if outcome.error else None,
                           request=call.body if answered else None,
                           answer=chunks_to_completion(seen) if answered else None)
        return aqta_block(call.route.provider, cost, receipt_id=call.attempt.receipt_id)

    return sse_response(relay(first, chunks, include_usage=call.include_usage, finish=finish,
                              prompt_chars=prompt_chars(call.body)))
