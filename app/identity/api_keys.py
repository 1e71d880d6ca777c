"""API key material: generation, hashing, and the in-process lookup cache.

A key is ``sk-aqta-`` plus 43 URL-safe random characters (256 bits). Only its
SHA-256 hash is stored. Lookups are cached per process for ``KEY_CACHE_SECONDS``
(1 s by default), which is what bounds how long a revoked key keeps working on
an instance that had it cached: no cross-instance message is needed.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from flask import Flask, current_app

import storage.budgets as budgets_repo
import storage.keys as keys_repo
from storage.ids import utcnow
from storage.records import ApiKeyRecord

KEY_PREFIX = "sk-aqta-"
INFERENCE, ADMIN = "inference", "admin"
SCOPES = (INFERENCE, ADMIN)  # inference: chat and models only; admin: management too
MAX_KEYS = 100  # live keys per account (operators' create-key is not capped)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    key_hash: str
    prefix: str
    last_four: str


def generate_key() -> NewKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(plaintext, hash_key(plaintext), plaintext[: len(KEY_PREFIX) + 4], plaintext[-4:])


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


class KeyCache:
    """hash -> (key record or None, expiry), shared by the process's greenlets."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, tuple[ApiKeyRecord | None, float]] = {}
        self._lock = threading.Lock()

    def lookup(self, plaintext: str) -> ApiKeyRecord | None:
        key_hash = hash_key(plaintext)
        now = time.monotonic()
        entry = self._entries.get(key_hash)
        if entry is not None and entry[1] > now:
            return entry[0]
        record = keys_repo.find_active_by_hash(key_hash)
        if record is not None:
            # Budgets ride along with the key, so the hot path never reads them on their own.
            record = replace(record, budgets=tuple(budgets_repo.applying_to(record.user_id,
                                                                            record.id)))
            if record.last_used_at is None or utcnow() - record.last_used_at > LAST_USED_RESOLUTION:
                keys_repo.touch(record.id, utcnow())
        with self._lock:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[key_hash] = (record, now + self.ttl)
        return record

    def forget(self, key_id: str) -> None:
        """Drop a key from this process's cache at once (the revoking instance)."""
        with self._lock:
            for key_hash, (record, _) in list(self._entries.items()):
                if record is not None and record.id == key_id:
                    del self._entries[key_hash]


def init_app(app: Flask) -> None:
    app.extensions["aqta.key_cache"] = KeyCache(app.config["AQTA_SETTINGS"].key_cache_seconds)


def key_cache() -> KeyCache:
    return current_app.extensions["aqta.key_cache"]
