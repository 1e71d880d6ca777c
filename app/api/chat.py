"""``POST /v1/chat/completions``: OpenAI's chat API in front of every provider."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import orjson
from flask import Response, g, request, stream_with_context
from flask_smorest import Blueprint

from app.api.openai_schemas import ref
from app.authn import authenticate_key
from app.errors import InvalidRequest
from app.gateway import admission
from app.gateway.cache import CacheHit, chunks_to_completion, recording, response_cache
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


@dataclass(frozen=True)
class Call:
    """One chat request on its way through the gateway."""

    key: ApiKeyRecord
    route: Route
    body: dict
    cache_key: str | None  # set when the answer may be served from, and stored in, the cache

    @property
    def include_usage(self) -> bool:
        return bool((self.body.get("stream_options") or {}).get("include_usage"))


def aqta_block(provider: str, cost: Decimal, saved: Decimal | None = None) -> dict:
    block = {"cost_eur": str(cost), "provider": provider, "cached": saved is not None,
             "loop_detected": False, "request_id": g.request_id}
    if saved is not None:
        block["saved_eur"] = str(saved)
    return block


def record(call: Call, usage: Usage, cost: Decimal, status: str, estimated: bool = False) -> None:
    """Note what a request consumed (the request log takes this over from the log line)."""
    log.info("request=%s key=%s model=%s provider=%s status=%s prompt_tokens=%d "
             "completion_tokens=%d cost_eur=%s%s", g.request_id, call.key.id, call.route.model,
             call.route.provider, status, usage.prompt_tokens, usage.completion_tokens, cost,
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
    body = validate_chat_request(read_json_body())
    service = gateway()
    route = service.route(body["model"], key.tier)
    provider = service.provider(route.provider)
    admitted = admission.admit(key, body)
    try:
        cache = response_cache()
        call = Call(key, route, body, cache.key_for(key.user_id, body, request.headers))
        hit = cache.lookup(call.cache_key)
        if hit is not None:
            return cached_answer(call, hit)
        if body.get("stream"):
            return stream_answer(call, provider)
        answer = provider.chat(ChatRequest(route.model, body))
    except Exception:
        # Failed before any token: the request does not use quota.
        admission.refund(admitted)
        raise
    cost = service.cost(route, answer.usage)
    record(call, answer.usage, cost, "ok")
    cache.store(call.cache_key, answer.body, route.provider, cost)
    return json_response({**answer.body, "aqta": aqta_block(route.provider, cost)})


def cached_answer(call: Call, hit: CacheHit) -> Response:
    """The stored answer, free, as JSON or replayed as a stream."""
    zero = Decimal("0.00000000")
    record(call, Usage(), zero, "cached")
    block = aqta_block(hit.provider, zero, saved=hit.saved_eur)
    if not call.body.get("stream"):
        return json_response({**hit.completion, "aqta": block})
    chunks = hit.chunks()
    return sse_response(relay(chunks[0], (chunk for chunk in chunks[1:]),
                              include_usage=call.include_usage, prompt_chars=0,
                              finish=lambda outcome: block))


def stream_answer(call: Call, provider) -> Response:
    seen: list[dict] = []
    chunks = provider.stream(ChatRequest(call.route.model, call.body))
    if call.cache_key:
        chunks = recording(chunks, seen)
    # Wait for the first chunk before answering, so an upstream that fails before
    # any token gets a real HTTP error status the SDKs understand.
    first = next(chunks)
    service, cache = gateway(), response_cache()

    def finish(outcome: StreamOutcome) -> dict:
        cost = service.cost(call.route, outcome.usage)
        record(call, outcome.usage, cost, outcome.status, outcome.usage_estimated)
        if outcome.status == "ok" and not outcome.usage_estimated and call.cache_key:
            cache.store(call.cache_key, chunks_to_completion(seen), call.route.provider, cost)
        return aqta_block(call.route.provider, cost)

    return sse_response(relay(first, chunks, include_usage=call.include_usage, finish=finish,
                              prompt_chars=prompt_chars(call.body)))
