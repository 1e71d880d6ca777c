"""One chat request through the gateway: admit → cache → provider → settle.

The view (``app.api.chat``) does HTTP only: it authenticates, hands the raw body
here, and wraps what comes back in a response. Everything a request does between
is in this module, in order:

1. validate and route the body, then admit it (tier, rate, quotas, loops, budgets);
2. answer from the cache when it holds the same request;
3. otherwise call the provider, whole or streamed;
4. settle: price the usage, spend it on the budgets, store a cacheable answer,
   and close the request's log record. Streamed, whole and cached answers all
   settle through ``settle``, exactly once.

A failure before any token refunds the admission (the request uses no quota).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

import orjson

from app.errors import AqtaError, InvalidRequest, api_error
from app.gateway import budgets, decisions
from app.gateway.admission import admit as admission
from app.gateway.aqta_block import AqtaBlock, with_aqta
from app.gateway.cache.store import CacheHit, chunks_to_completion, response_cache, teed_into
from app.gateway.catalogue import gateway
from app.gateway.loops.detector import LoopDetected
from app.gateway.request_log.attempt import ZERO_EUR, Attempt
from app.gateway.routing import Route
from app.gateway.streaming import StreamOutcome, estimate_tokens, relay
from app.gateway.validation import validate_chat_request
from app.healthcare import receipts
from app.healthcare.risk.cases import declared_decision_type
from providers.base import ChatRequest, Provider, Usage
from providers.errors import ProviderFailure


@dataclass(frozen=True)
class Call:
    """One admitted chat request on its way through the gateway."""

    attempt: Attempt
    route: Route
    body: dict
    cache_key: str | None  # set when the answer may be served from, and stored in, the cache
    admitted: admission.Admission

    @property
    def include_usage(self) -> bool:
        return bool((self.body.get("stream_options") or {}).get("include_usage"))


@dataclass(frozen=True)
class Answer:
    """What the view sends: a whole completion as JSON bytes, or the bytes of a server-sent stream."""

    completion: bytes | None = None
    stream: Iterator[bytes] | None = None


@dataclass(frozen=True)
class Settlement:
    """How a call ended, for ``settle``."""

    status: str  # "ok", "error", "client_disconnected" or "cached"
    usage: Usage = Usage()
    cacheable: dict | None = None  # a completion the cache may store
    error: AqtaError | None = None
    saved: Decimal | None = None  # set for a cached answer: what it would have cost
    cached_provider: str = ""  # for a cached answer: the provider that first gave it
    answer: dict | None = None  # the whole answer, for a healthcare-tier receipt


def prompt_chars(body: dict) -> int:
    total = 0
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(part.get("text", "")) for part in content)
    return total


def parse_body(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})", field="body") from None


def complete(attempt: Attempt, raw: bytes, headers: Mapping[str, str]) -> Answer:
    """Run one chat request (its body as sent); the attempt's record is closed whatever happens."""
    try:
        return _complete(attempt, parse_body(raw), headers)
    except (AqtaError, ProviderFailure) as failure:
        exc = api_error(failure)
        attempt.close("error", error_code=exc.code, loop_detected=isinstance(exc, LoopDetected))
        raise
    except Exception:
        attempt.close("error", error_code="internal_error")
        raise


def _complete(attempt: Attempt, raw: object, headers: Mapping[str, str]) -> Answer:
    body = validate_chat_request(raw)
    attempt.decision_type = declared_decision_type(headers)
    attempt.routed(body["model"], "")
    service = gateway()
    route = service.route(body["model"], attempt.key.tier)
    attempt.routed(route.model, route.provider, route.entry.id)
    provider = service.provider(route.provider)
    admitted = admission.admit(attempt.key, body)
    try:
        cache = response_cache()
        call = Call(attempt, route, body, cache.key_for(attempt.key.user_id, body, headers), admitted)
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
    block = settle(call, Settlement("ok", completion.usage, cacheable=completion.body,
                                    answer=completion.body))
    return Answer(completion=with_aqta(completion.body, block))


def settle(call: Call, outcome: Settlement) -> AqtaBlock:
    """Price, spend, cache and log one finished call (and give it a receipt, on the
    healthcare tier, when it was answered); returns its ``aqta`` block."""
    attempt, provider = call.attempt, call.route.provider
    # Before the answer's last byte leaves, so a caller repeating it at once is a repeat:
    # in the round trip that keeps the request's record.
    finishing = admission.finishing(call.admitted)
    asked = call.body if outcome.answer is not None else None
    if outcome.saved is not None:
        attempt.close("cached", saved=outcome.saved, cached=True, request=asked, answer=outcome.answer,
                      alongside=finishing)
        return AqtaBlock(attempt.request_id, outcome.cached_provider, ZERO_EUR, saved=outcome.saved,
                         receipt_id=attempt.receipt_id)
    cost = gateway().cost(call.route, outcome.usage)
    budgets.spend(call.attempt.key, cost)
    if outcome.status == "ok" and outcome.cacheable is not None:
        response_cache().store(call.cache_key, outcome.cacheable, provider, cost)
    attempt.close("error" if outcome.error else outcome.status, usage=outcome.usage, cost=cost,
                  error_code=outcome.error.code if outcome.error else None, request=asked,
                  answer=outcome.answer, alongside=finishing)
    if outcome.status == "ok":
        decisions.observe(attempt.key, attempt.request_id, attempt.created_at, call.body,
                          outcome.answer)
    return AqtaBlock(attempt.request_id, provider, cost, receipt_id=attempt.receipt_id)


def cached_answer(call: Call, hit: CacheHit) -> Answer:
    """The stored answer, free, as JSON or replayed as a stream."""
    block = settle(call, Settlement("cached", saved=hit.saved_eur, cached_provider=hit.provider,
                                    answer=hit.completion))
    if not call.body.get("stream"):
        return Answer(completion=with_aqta(hit.completion, block))
    chunks = hit.chunks()
    return Answer(stream=relay(chunks[0], (chunk for chunk in chunks[1:]),
                               include_usage=call.include_usage, prompt_chars=0,
                               finish=lambda outcome: block))


def stream_answer(call: Call, provider: Provider) -> Answer:
    seen: list[dict] = []
    chunks = provider.stream(ChatRequest(call.route.model, call.body))
    wants_receipt = receipts.wants_receipt(call.attempt.key)
    if call.cache_key or wants_receipt:
        chunks = teed_into(chunks, seen)
    # Wait for the first chunk before answering, so an upstream that fails before
    # any token gets a real HTTP error status the SDKs understand.
    first = next(chunks)
    call.attempt.first_token()
    # Before the first byte leaves: the record this stream leaves if its process dies
    # (a disconnect's estimate: the prompt, as the relay estimates it; reconcile).
    chars = prompt_chars(call.body)
    estimate = Usage(estimate_tokens(chars), 0)
    call.attempt.start(estimate, gateway().cost(call.route, estimate))

    delivered: list[dict] | None = [] if wants_receipt else None

    def finish(outcome: StreamOutcome) -> AqtaBlock:
        whole = chunks_to_completion(seen) if outcome.status == "ok" and seen else None
        cacheable = whole if call.cache_key and not outcome.usage_estimated else None
        return settle(call, Settlement(outcome.status, outcome.usage, cacheable, outcome.error,
                                       answer=receipted_answer(outcome, whole, delivered)))

    return Answer(stream=relay(first, chunks, include_usage=call.include_usage, finish=finish,
                              prompt_chars=chars, delivered=delivered))


def receipted_answer(outcome: StreamOutcome, whole: dict | None,
                     delivered: list[dict] | None) -> dict | None:
    """What a stream's receipt commits to: the whole answer, whose final chunk carries the
    receipt; or, for a stream that broke or was abandoned, only what reached the client."""
    if delivered is None:
        return None
    if outcome.status == "ok" and whole is not None:
        return whole
    return chunks_to_completion(delivered)
