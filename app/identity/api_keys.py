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
from app.errors import Conflict, InsufficientTier
from app.gateway.admission.rate_limits import monthly_quota, requests_per_minute
from app.healthcare import audit
from app.tiers import TIERS
from storage.account_lock import LimitReached
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


def create_key(user_id: str, name: str, *, tier: str = "free", scope: str = INFERENCE,
               rpm_limit: int | None = None, monthly_quota: int | None = None
               ) -> tuple[ApiKeyRecord, str]:
    """A new key for the account and its plaintext (the caller shows it once).

    An inference key unless ``scope`` says admin; at most MAX_KEYS live keys per account
    (409 too_many_keys). Limits below the account's ``tier`` may be given at once; higher
    ones are refused before anything is created.
    """
    limits = TIERS[tier]
    check_lowering("rpm_limit", rpm_limit, limits.requests_per_minute, limits.requests_per_minute)
    check_lowering("monthly_quota", monthly_quota, limits.monthly_requests, limits.monthly_requests)
    new = generate_key()
    try:
        record = keys_repo.create(user_id, name, new.key_hash, new.prefix, new.last_four,
                                  scope=scope, limit=MAX_KEYS)
    except LimitReached:
        raise Conflict(f"An account may have at most {MAX_KEYS} live API keys; revoke one first.",
                       code="too_many_keys") from None
    if rpm_limit is not None or monthly_quota is not None:
        record = keys_repo.set_limits(user_id, record.id, rpm_limit=rpm_limit,
                                      monthly_quota=monthly_quota)
    audit.record(audit.KEY_CREATED, audit.CREATE, account_id=user_id, entity_type=audit.API_KEY,
                 entity_id=record.id, detail={"scope": scope})
    return record, new.plaintext


def live_keys(user_id: str) -> list[ApiKeyRecord]:
    """The account's keys that are not revoked, newest first."""
    return keys_repo.list_for_user(user_id)


def live_key(user_id: str, key_id: str) -> ApiKeyRecord:
    """One of the account's live keys; another account's is not found (404)."""
    return keys_repo.get_for_user(user_id, key_id)


def revoke_key(user_id: str, key_id: str) -> None:
    """Revoke one of the account's keys: it stops working on every instance within a second."""
    keys_repo.revoke(user_id, key_id)
    key_cache().forget(key_id)
    audit.record(audit.KEY_REVOKED, audit.DELETE, account_id=user_id, entity_type=audit.API_KEY,
                 entity_id=key_id)


def check_lowering(name: str, requested: int | None, tier_value: int, current: int) -> None:
    """Owners may only lower a limit; going above the tier takes the operator CLI."""
    if requested is not None and requested > max(tier_value, current):
        raise InsufficientTier(f"{name} {requested:,} is above your tier's {tier_value:,}; "
                               "an operator can raise it with 'aqta set-limits'.")


def set_key_limits(user_id: str, key_id: str, **changes) -> ApiKeyRecord:
    """Lower a key's rpm_limit or monthly_quota (None: the tier's), or set its loop_settings."""
    key = live_key(user_id, key_id)
    tier = TIERS[key.tier]
    check_lowering("rpm_limit", changes.get("rpm_limit"), tier.requests_per_minute,
                   requests_per_minute(key))
    check_lowering("monthly_quota", changes.get("monthly_quota"), tier.monthly_requests,
                   monthly_quota(key))
    updated = keys_repo.set_limits(user_id, key_id, **changes)
    key_cache().forget(key_id)
    audit.record(audit.KEY_LIMITS_CHANGED, audit.UPDATE, account_id=user_id, entity_type=audit.API_KEY,
                 entity_id=key_id, detail={"fields": sorted(changes)})
    return updated
