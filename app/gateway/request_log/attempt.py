"""One request-log record per chat completion, whatever its outcome.

An ``Attempt`` is opened when the caller is authenticated and closed exactly
once: with the answer's usage and cost, as cached, or with the error that
refused or failed it. Closing hands the record to the request log's sink, which
keeps it durably before returning: before the answer (or a stream's final
chunk) leaves, so every response that reached a client is in the log. A stream
also hands off a start record before its first byte leaves (``start``), so a
stream whose process dies mid-way is still closed in the log (``reconcile``).
"""
from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

from app.gateway.request_log.codec import STARTED
from app.gateway.request_log.sink import request_log
from app.handoff.alongside import Alongside
from app.healthcare import receipts
from app.healthcare.risk.cases import risk_cases
from app.metrics.series import count_chat
from providers.base import Usage
from storage.ids import utcnow
from storage.records import ApiKeyRecord, RequestRecord

ZERO_EUR = Decimal("0.00000000")


class Attempt:
    def __init__(self, key: ApiKeyRecord, request_id: str):
        self.key = key
        self.request_id = request_id
        self.created_at = utcnow()
        self.started = time.monotonic()
        self.model = ""
        self.provider = ""
        self.listed_model = ""  # the catalogue's entry (``mock-*``): a bounded metric label
        self.ttft_ms: int | None = None
        self.closed = False
        self.receipt_id: str | None = None  # set on closing a healthcare-tier answer
        self.decision_type: str | None = None  # what the client declared (X-Aqta-Decision-Type)

    def routed(self, model: str, provider: str, listed_model: str = "") -> None:
        self.model, self.provider, self.listed_model = model, provider, listed_model

    def first_token(self) -> None:
        self.ttft_ms = self._elapsed_ms()

    def start(self, usage: Usage, cost: Decimal) -> None:
        """Hand off the record this stream leaves if its process dies before ``close``:
        ``usage`` and ``cost`` are the estimate it would be closed with."""
        request_log().append(self._record(STARTED, usage, cost))

    def close(self, status: str, *, usage: Usage = Usage(), cost: Decimal = ZERO_EUR,
              saved: Decimal = ZERO_EUR, error_code: str | None = None, cached: bool = False,
              loop_detected: bool = False, request: dict | None = None,
              answer: dict | None = None, alongside: Alongside | None = None) -> None:
        """Hand the record off (once; later calls are ignored), and run ``alongside`` in the
        same Redis round trip (or alone: always, whether or not this call closes the attempt).

        Given the ``request`` body and the ``answer`` (a completion: for a stream that
        broke or was abandoned, what reached the client), a healthcare-tier key's answer
        also gets a receipt recording the outcome, handed off with the record (in the same
        Redis round trip; without Redis, before it); its id is ``receipt_id``. The answer's
        text rides along sealed, for the risk classifier (``app.healthcare.risk.cases``).
        """
        if self.closed:
            if alongside is not None:
                alongside.alone()
            return
        self.closed = True
        riders, receipt_id = [], None
        if request is not None and answer is not None and receipts.wants_receipt(self.key):
            receipt_id, leaf = receipts.issuer().prepare(
                key=self.key, request_id=self.request_id, model=self.model, provider=self.provider,
                created_at=self.created_at, status=status, usage=usage, cost=cost,
                request=request, answer=answer, error_code=error_code)
            # The answer's text, sealed, for the risk classifier (a worker): one rider more.
            riders += [leaf, risk_cases().rider(
                receipt_id=receipt_id, key=self.key, request_id=self.request_id, model=self.model,
                created_at=self.created_at, request=request, answer=answer,
                declared_type=self.decision_type)]
        record = self._record(status, usage, cost, saved=saved, error_code=error_code,
                              cached=cached, loop_detected=loop_detected)
        count_chat(provider=self.provider, model=self.listed_model, status=status, cached=cached,
                   error_code=error_code, latency_seconds=record.latency_ms / 1000, cost=cost,
                   first_token_seconds=self.ttft_ms / 1000 if self.ttft_ms is not None else None)
        try:
            request_log().append(record, riders, [alongside] if alongside is not None else ())
        except receipts.ReceiptLogUnavailable as exc:  # no answer without its receipt
            # Kept before its rider failed only if Redis took the record and refused the
            # leaf alone; then this one is ignored (a request is logged once).
            request_log().append(replace(record, status="error", error_code=exc.code))
            raise
        self.receipt_id = receipt_id

    def _record(self, status: str, usage: Usage, cost: Decimal, *, saved: Decimal = ZERO_EUR,
                error_code: str | None = None, cached: bool = False,
                loop_detected: bool = False) -> RequestRecord:
        return RequestRecord(
            request_id=self.request_id, user_id=self.key.user_id, key_id=self.key.id,
            model=self.model, provider=self.provider, status=status, error_code=error_code,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cost_eur=cost, saved_eur=saved, cached=cached, loop_detected=loop_detected,
            latency_ms=self._elapsed_ms(), ttft_ms=self.ttft_ms, created_at=self.created_at)

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)
