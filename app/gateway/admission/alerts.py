"""Alerts the hot path raises as webhook events: once each, and never at the request's expense."""
from __future__ import annotations

import logging
import threading

import redis
from flask import Flask, current_app

from app.gateway.admission.quotas import MONTHLY_TTL
from app.redis_keys import RedisKeys
from app.webhooks.service import emit

log = logging.getLogger(__name__)


class OnceGuard:
    """``first(name)`` is True for exactly one caller per name, across every process with Redis."""

    def __init__(self, client: redis.Redis | None, prefix: str = "aqta:alerted:"):
        self.client = client
        self.prefix = prefix
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, name: str) -> bool:
        if self.client is not None:
            return bool(self.client.set(self.prefix + name, 1, nx=True, ex=MONTHLY_TTL))
        with self._lock:
            if name in self._seen:
                return False
            self._seen.add(name)
            return True


def init_app(app: Flask) -> None:
    prefix = RedisKeys(app.config["AQTA_SETTINGS"].redis_key_prefix).alerted
    app.extensions["aqta.alerts"] = OnceGuard(app.extensions["aqta.redis"], prefix)


def alert_once(name: str, event_type: str, user_id: str, data: dict) -> None:
    """Emit ``event_type`` the first time ``name`` is alerted; log, never raise, on failure."""
    try:
        if current_app.extensions["aqta.alerts"].first(name):
            emit(event_type, user_id, data)
    except Exception:  # an alert must never fail the request that triggered it
        log.exception("could not raise %s for %s", event_type, user_id)
