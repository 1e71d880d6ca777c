"""Receipts: one log leaf per healthcare-tier answer, built and handed off on the hot path.

A receipt names the request, account, key, model, provider, time, usage and cost,
and commits to the request and the answer with HMACs under the account's key; it
holds no patient text. ``prepare`` builds it and makes its canonical bytes a rider
of the request's log record: one Redis Stream entry more in the same round trip
(or a line in this process's journal), and no database query. The sequencer
(``workers.healthcare_log``) stores and numbers it.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from decimal import Decimal

import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

from app.errors import ServiceUnavailable
from app.handoff.journal import Journal
from app.handoff.rider import Rider
from app.healthcare import commitments
from app.healthcare.leaves import LEAF_VERSION, RECEIPT, leaf_bytes, timestamp
from providers.base import Usage
from storage.ids import new_id
from storage.records import ApiKeyRecord

HEALTHCARE_TIER = "healthcare"
SECRET_INFO = b"aqta receipt commitments v1"
ACCOUNT_KEYS_CACHED = 10_000  # per process; a key is one HMAC away, the cache only saves that


class ReceiptLogUnavailable(ServiceUnavailable):
    code = "receipt_log_unavailable"


def wants_receipt(key: ApiKeyRecord) -> bool:
    return key.tier == HEALTHCARE_TIER


def build(*, key: ApiKeyRecord, account_key: bytes, request_id: str, model: str, provider: str,
          created_at: datetime, status: str, usage: Usage, cost: Decimal, request: dict,
          answer: dict, error_code: str | None = None) -> dict:
    """The receipt leaf for one answer (pure; its id is fresh).

    ``status`` is the outcome (``ok``, ``cached``, ``error`` with its ``error_code``, or
    ``client_disconnected``); ``answer`` is what the client received.
    """
    leaf = {
        "leaf_type": RECEIPT, "v": LEAF_VERSION, "id": new_id("rcpt"), "request_id": request_id,
        "account_id": key.user_id, "key_id": key.id, "model": model, "provider": provider,
        "created_at": timestamp(created_at), "status": status, "cached": status == "cached",
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "total_tokens": usage.prompt_tokens + usage.completion_tokens},
        "cost_eur": format(cost, "f"),
        "commitments": {"alg": commitments.ALGORITHM,
                        "request": commitments.request_commitment(account_key, request),
                        "answer": commitments.answer_commitment(account_key, answer)},
    }
    if error_code is not None:
        leaf["error_code"] = error_code
    return leaf


class ReceiptIssuer:
    """Builds receipts and hands them off: Redis Stream when there is Redis, else the journal."""

    def __init__(self, secret: bytes, journal: Journal, client: redis.Redis | None, stream: str):
        self._secret = secret
        self.journal = journal
        self.client = client
        self.stream = stream
        self._keys: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return "ReceiptIssuer(<secret>)"

    def account_key(self, account_id: str) -> bytes:
        key = self._keys.get(account_id)
        if key is None:
            if len(self._keys) >= ACCOUNT_KEYS_CACHED:
                self._keys.clear()
            key = self._keys[account_id] = commitments.account_key(self._secret, account_id)
        return key

    def prepare(self, *, key: ApiKeyRecord, request_id: str, model: str, provider: str,
                created_at: datetime, status: str, usage: Usage, cost: Decimal, request: dict,
                answer: dict, error_code: str | None = None) -> tuple[str, Rider]:
        """Build the receipt; its id, and its leaf as a rider of the request's log record
        (one Redis round trip for both, on the hot path)."""
        receipt = build(key=key, account_key=self.account_key(key.user_id), request_id=request_id,
                        model=model, provider=provider, created_at=created_at, status=status,
                        usage=usage, cost=cost, request=request, answer=answer, error_code=error_code)
        return receipt["id"], Rider(self.stream, leaf_bytes(receipt), self.keep_in_journal)

    def hand_off(self, data: bytes) -> None:
        """Hand a leaf off alone: to the stream, or the journal while Redis is unreachable."""
        if self.client is not None:
            try:
                self.client.xadd(self.stream, {"r": data})
                return
            except redis.RedisError:
                pass  # the journal keeps it; a worker sharing the folder drains it
        self.keep_in_journal(data)

    def keep_in_journal(self, data: bytes) -> None:
        try:
            self.journal.append(data + b"\n")
        except OSError as exc:
            raise ReceiptLogUnavailable(f"The receipt log is unavailable ({exc}).") from exc


def commitment_secret(receipt_secret: str, secret_key: str) -> bytes:
    """RECEIPT_SECRET, or a key derived from SECRET_KEY (changing either breaks old commitments)."""
    if receipt_secret:
        return hashlib.sha256(receipt_secret.encode()).digest()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SECRET_INFO).derive(
        secret_key.encode())


def init_app(app: Flask) -> None:
    """Call after ``app.services.init_app`` (it needs the Redis client, if any)."""
    settings = app.config["AQTA_SETTINGS"]
    journal = Journal(settings.log_journal_dir, settings.request_journal_fsync_seconds,
                      settings.request_journal_segment_bytes)
    app.extensions["aqta.receipts"] = ReceiptIssuer(
        commitment_secret(settings.receipt_secret, settings.secret_key), journal,
        app.extensions.get("aqta.redis"), settings.log_stream)


def issuer() -> ReceiptIssuer:
    return current_app.extensions["aqta.receipts"]


def check_commitment(issuer_: ReceiptIssuer, account_id: str, expected: str, kind: str,
                     body: dict) -> bool:
    key = issuer_.account_key(account_id)
    actual = (commitments.request_commitment(key, body) if kind == "request"
              else commitments.answer_commitment(key, body))
    return hmac.compare_digest(expected, actual)

