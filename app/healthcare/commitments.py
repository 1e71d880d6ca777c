"""Keyed commitments to a request and its answer, so no patient text is ever stored.

A plain hash of a short clinical note can be brute-forced; an HMAC-SHA-256 under
a key only the deployment holds cannot. Each account gets its own key, derived
from the server's commitment secret and never stored; holding the original
request and answer, the deployment (or the account, given its key) can show they
match the receipt. Standard library only.
"""
from __future__ import annotations

import hashlib
import hmac

from app.healthcare.leaves import canonical_json

ALGORITHM = "hmac-sha256"
KEY_LABEL = b"aqta receipt commitment key v1\x00"
REQUEST_LABEL = b"request\x00"
ANSWER_LABEL = b"answer\x00"
ANSWER_MESSAGE_FIELDS = ("role", "content", "refusal", "tool_calls", "function_call")
KEYED_CACHED = 10_000  # (key, label) states kept per process; cleared when full
_KEYED: dict[tuple[bytes, bytes], hmac.HMAC] = {}


def account_key(secret: bytes, account_id: str) -> bytes:
    """The account's commitment key: HMAC(secret, label ‖ account id)."""
    return hmac.new(secret, KEY_LABEL + account_id.encode(), hashlib.sha256).digest()


def canonical_request(body: dict) -> bytes:
    """The request as the client sent it (parsed JSON), in canonical form."""
    return canonical_json(body)


def canonical_answer(completion: dict) -> bytes:
    """What came back: each choice's index, message and finish reason, in canonical form.

    The same for a plain answer and a stream assembled into one (ids, timestamps,
    usage and the ``aqta`` block are left out; the receipt records those itself).
    """
    choices = []
    for position, choice in enumerate(completion.get("choices") or ()):
        message = choice.get("message") or {}
        kept = {name: message[name] for name in ANSWER_MESSAGE_FIELDS
                if message.get(name) is not None}
        choices.append({"index": choice.get("index", position), "message": kept,
                        "finish_reason": choice.get("finish_reason")})
    return canonical_json(sorted(choices, key=lambda c: c["index"]))


def commit(key: bytes, label: bytes, data: bytes) -> str:
    """HMAC-SHA-256(key, label ‖ data), hex. The keyed state after the label is made once per
    key and label (a process keeps a few accounts' keys) and copied for each message."""
    keyed = _KEYED.get((key, label))
    if keyed is None:
        if len(_KEYED) >= KEYED_CACHED:
            _KEYED.clear()
        keyed = _KEYED[(key, label)] = hmac.new(key, label, hashlib.sha256)
    mac = keyed.copy()
    mac.update(data)
    return mac.hexdigest()


def request_commitment(key: bytes, body: dict) -> str:
    return commit(key, REQUEST_LABEL, canonical_request(body))


def answer_commitment(key: bytes, completion: dict) -> str:
    return commit(key, ANSWER_LABEL, canonical_answer(completion))

