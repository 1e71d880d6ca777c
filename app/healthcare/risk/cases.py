"""Risk cases: a healthcare answer's text, sealed, on its way to the classifier.

The classifier runs in a worker, and needs the words of the request and the answer,
which must never land in a table, a log line or a webhook. ``RiskCases.rider`` seals
them (AES-256-GCM under a key derived from ``SECRET_KEY``, a fresh 96-bit nonce each,
base64 so a case is also one journal line; Fernet cost 30 µs a case, this 7 µs)
with the receipt's ids and what the client declared, and makes the token one more
rider of the request record's Redis pipeline (no extra round trip), or a line in its
own journal without Redis. The worker's drain opens each case, classifies it and
deletes it (``XDEL``, or the journal segment once read): the text exists only
encrypted, and only until it is classified.
"""
from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from datetime import datetime

import orjson
import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

from app.handoff.journal import Journal
from app.handoff.rider import Rider
from app.healthcare.leaves import timestamp
from app.healthcare.receipts import ReceiptLogUnavailable
from app.healthcare.risk.rules import answer_text, request_text
from storage.records import ApiKeyRecord

SEAL_INFO = b"aqta risk cases v1"
SEALED_AS = b"aqta risk case v1"  # authenticated with every case: a token of another kind never opens
NONCE_BYTES = 12
REQUIRED = ("receipt_id", "request_id", "account_id", "key_id", "model", "created_at")
DECISION_TYPE_HEADER = "X-Aqta-Decision-Type"
DECLARED_CHARS = 40  # a declared decision type or risk is a short label; longer ones are cut


class InvalidCase(ValueError):
    """A handed-off case that cannot be opened (another key, or damaged)."""


def declared_decision_type(headers: Mapping[str, str]) -> str | None:
    value = headers.get(DECISION_TYPE_HEADER)
    return value[:DECLARED_CHARS] if value else None


def _label(value: object) -> str | None:
    return value[:DECLARED_CHARS] if isinstance(value, str) and value else None


class RiskCases:
    """Seals cases and hands them off: Redis Stream when there is Redis, else the journal."""

    def __init__(self, secret_key: str, journal: Journal, client: redis.Redis | None, stream: str):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(
            secret_key.encode())
        self._aead = AESGCM(derived)
        self.journal = journal
        self.client = client
        self.stream = stream

    def __repr__(self) -> str:
        return "RiskCases(<key>)"

    def rider(self, *, receipt_id: str, key: ApiKeyRecord, request_id: str, model: str,
              created_at: datetime, request: dict, answer: dict,
              declared_type: str | None = None) -> Rider:
        """The sealed case of one receipt's answer, as a rider of its request's record."""
        metadata = request.get("metadata") if isinstance(request.get("metadata"), dict) else {}
        case = {"receipt_id": receipt_id, "request_id": request_id, "account_id": key.user_id,
                "key_id": key.id, "model": model, "created_at": timestamp(created_at),
                "decision_type": declared_type or _label(metadata.get("decision_type")),
                "risk": _label(metadata.get("risk")),
                "request": request_text(request), "answer": answer_text(answer)}
        return Rider(self.stream, self.seal(orjson.dumps(case)), self.keep_in_journal)

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plain, SEALED_AS))

    def open(self, data: bytes) -> dict:
        try:
            sealed = base64.b64decode(data, validate=True)
            plain = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], SEALED_AS)
            case = orjson.loads(plain)
        except (binascii.Error, InvalidTag, ValueError):
            raise InvalidCase("a risk case that cannot be opened (sealed under another "
                              "SECRET_KEY?)") from None
        if not isinstance(case, dict) or not all(isinstance(case.get(name), str) for name in REQUIRED):
            raise InvalidCase(f"a risk case needs {', '.join(REQUIRED)}")
        return case

    def keep_in_journal(self, data: bytes) -> None:
        try:
            self.journal.append(data + b"\n")
        except OSError as exc:
            raise ReceiptLogUnavailable(f"The risk classifier's hand-off is unavailable ({exc}).") from exc


def init_app(app: Flask) -> None:
    """Call after ``app.services.init_app`` (it needs the Redis client, if any)."""
    settings = app.config["AQTA_SETTINGS"]
    journal = Journal(settings.risk_journal_dir, settings.request_journal_fsync_seconds,
                      settings.request_journal_segment_bytes)
    app.extensions["aqta.risk_cases"] = RiskCases(settings.secret_key, journal,
                                                  app.extensions.get("aqta.redis"), settings.risk_stream)


def risk_cases() -> RiskCases:
    return current_app.extensions["aqta.risk_cases"]
