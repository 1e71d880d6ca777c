"""One request-log record per chat completion, whatever its outcome.

An ``Attempt`` is opened when the caller is authenticated and closed exactly
once: with the answer's usage and cost, as cached, or with the error that
refused or failed it. Closing hands the record to the request log's sink, which
keeps it durably before returning: before the answer (or a stream's final
chunk) leaves, so every response that reached a client is in the log.
"""
from __future__ import annotations

import time
from decimal import Decimal

from app.gateway.request_log.sink import request_log
from app.healthcare import receipts
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

    def routed(self, model: str, provider: str, listed_model: str = "") -> None:
        self.model, self.provider, self.listed_model = model, provider, listed_model

    def first_token(self) -> None:
        self.ttft_ms = self._elapsed_ms()

    def close(self, status: str, *, usage: Usage = Usage(), cost: Decimal = ZERO_EUR,
              saved: Decimal = ZERO_EUR, error_code: str | None = None, cached: bool = False,
              loop_detected: bool = False, request: dict | None = None,
              answer: dict | None = None) -> None:
        """Hand the record off (once; later calls are ignored).

        Given the ``request`` body and the ``answer`` (a completion), a healthcare-tier
        key's answer also gets a receipt, handed off first; its id is ``receipt_id``.
        """
        if self.closed:
            return
        self.closed = True
        failure = None
        if request is not None and answer is not None and receipts.wants_receipt(self.key):
            try:
                self.receipt_id = receipts.issuer().issue(
                    key=self.key, request_id=self.request_id, model=self.model, provider=self.provider,
                    created_at=self.created_at, status=status, usage=usage, cost=cost,
                    request=request, answer=answer)
            except receipts.ReceiptLogUnavailable as exc:  # no answer without its receipt
                failure, status, error_code = exc, "error", exc.code
        latency_ms = self._elapsed_ms()
        count_chat(provider=self.provider, model=self.listed_model, status=status, cached=cached,
                   error_code=error_code, latency_seconds=latency_ms / 1000, cost=cost,
                   first_token_seconds=self.ttft_ms / 1000 if self.ttft_ms is not None else None)
        request_log().append(RequestRecord(
            request_id=self.request_id, user_id=self.key.user_id, key_id=self.key.id,
            model=self.model, provider=self.provider, status=status, error_code=error_code,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cost_eur=cost, saved_eur=saved, cached=cached, loop_detected=loop_detected,
            latency_ms=latency_ms, ttft_ms=self.ttft_ms, created_at=self.created_at))
        if failure is not None:
            raise failure

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)
