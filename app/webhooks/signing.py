"""Webhook signing secrets: made, sealed at rest, and used to sign in the Standard Webhooks format.

A secret is ``whsec_`` + base64 of 32 random bytes; the HMAC key is those bytes.
The database holds only a Fernet token of it, under a key derived from
``SECRET_KEY`` with HKDF, so a leaked database (or backup) signs nothing.
Changing ``SECRET_KEY`` makes existing secrets unreadable: rotate them after.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # random bytes in a signing secret
HKDF_INFO = b"aqta webhook signing secrets v1"


def new_secret() -> str:
    """A fresh signing secret, shown to its owner once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret: the base64-decoded part after the prefix."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX):])


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One ``v1,<base64 HMAC-SHA256>`` entry over ``{id}.{timestamp}.{body}``."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secrets_: list[str], message_id: str, when: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers, signed by every secret given (space-separated entries)."""
    timestamp = int(when.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_),
    }


def envelope(event_type: str, when: datetime, data: dict) -> str:
    """The JSON body of an event, serialised once so every retry sends (and signs) the same bytes."""
    timestamp = when.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"))


class SecretBox:
    """Seals and opens signing secrets with a Fernet key derived from ``SECRET_KEY``."""

    def __init__(self, secret_key: str):
        if not secret_key:
            raise ValueError("SECRET_KEY is needed to seal webhook secrets")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=HKDF_INFO).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("a webhook secret could not be decrypted: was SECRET_KEY changed? "
                             "Rotate the endpoint's secret.") from None

    def __repr__(self) -> str:  # never show key material in a log or traceback
        return "SecretBox(<sealed>)"
