"""The response cache: an exact-match store of answers, per account, in Redis or in process.

A backend keeps serialised entries under a key; ``CacheBackend.get``/``put`` are
written once and backends fill in ``_get``/``_put`` (the template method, as in
Dramatiq's results backends). The cache is an optimisation, so it fails open: a
backend error on ``get`` is logged as a warning and counts as a miss, and an
error on ``put`` is logged and ignored; no request fails because of the cache.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson
import redis
from flask import Flask, current_app

from app.gateway.cache.keys import cache_decision, cache_key
from app.gateway.cache.replay import chunks_to_completion, completion_to_chunks, teed_into
from app.redis_keys import RedisKeys

__all__ = ["CacheBackend", "CacheEntry", "CacheHit", "MemoryCache", "NullCache", "RedisCache",
           "ResponseCache", "cache_decision", "cache_key", "chunks_to_completion",
           "completion_to_chunks", "init_app", "teed_into", "response_cache"]

log = logging.getLogger(__name__)
DEFAULT_TTL_SECONDS = 3600  # seconds an answer stays cached
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # bytes of serialised entries kept in process
DEFAULT_PREFIX = RedisKeys().cache


@dataclass(frozen=True)
class CacheEntry:
    """A stored answer: the completion (no ``aqta`` block), who answered, what it cost."""

    completion: dict
    provider: str
    cost_eur: Decimal

    def dumps(self) -> bytes:
        return orjson.dumps({"completion": self.completion, "provider": self.provider,
                             "cost_eur": str(self.cost_eur)})

    @classmethod
    def loads(cls, data: bytes) -> CacheEntry:
        stored = orjson.loads(data)
        return cls(stored["completion"], stored["provider"], Decimal(stored["cost_eur"]))


class CacheBackend:
    """Where entries live. Subclasses implement ``_get``/``_put`` on bytes.

    ``failures`` lists the exception types that mean "the store is unavailable";
    those never leave ``get`` or ``put``.
    """

    failures: tuple[type[Exception], ...] = ()

    def get(self, key: str) -> CacheEntry | None:
        try:
            data = self._get(key)
        except self.failures as exc:
            log.warning("response cache: lookup failed, treated as a miss: %s", exc)
            return None
        if data is None:
            return None
        try:
            return CacheEntry.loads(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, InvalidOperation) as exc:
            log.warning("response cache: unreadable entry %s ignored: %s", key, exc)
            return None

    def put(self, key: str, entry: CacheEntry) -> None:
        try:
            self._put(key, entry.dumps())
        except self.failures as exc:
            log.warning("response cache: store failed, answer not cached: %s", exc)

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _put(self, key: str, data: bytes) -> None:
        raise NotImplementedError


class RedisCache(CacheBackend):
    """Entries in Redis under ``prefix + key``, expiring after ``ttl_seconds`` (SET EX)."""

    failures = (redis.RedisError,)

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS):
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = max(1, int(ttl_seconds))  # SET EX takes whole seconds

    def _get(self, key: str) -> bytes | None:
        return self.client.get(self.prefix + key)

    def _put(self, key: str, data: bytes) -> None:
        self.client.set(self.prefix + key, data, ex=self.ttl_seconds)


class NullCache(CacheBackend):
    """Keeps nothing: the cache switched off (a TTL of 0)."""

    def _get(self, key: str) -> bytes | None:
        return None

    def _put(self, key: str, data: bytes) -> None:
        pass


class MemoryCache(CacheBackend):
    """An in-process LRU bounded by the bytes of its entries, expiring them after a TTL.

    For embedded mode (no Redis). A lock guards the map; nothing inside it blocks,
    so it is safe for threads and for gevent's greenlets alike. An entry larger
    than ``max_bytes`` is not kept.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES,
                 ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.used_bytes = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _size(self, key: str, data: bytes) -> int:
        return len(key) + len(data)

    def _drop(self, key: str) -> None:
        _, data = self._entries.pop(key)
        self.used_bytes -= self._size(key, data)

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires_at, data = found
            if self.clock() >= expires_at:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return data

    def _put(self, key: str, data: bytes) -> None:
        size = self._size(key, data)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            if size > self.max_bytes:
                return
            while self.used_bytes + size > self.max_bytes:
                self._drop(next(iter(self._entries)))
            self._entries[key] = (self.clock() + self.ttl_seconds, data)
            self.used_bytes += size


@dataclass(frozen=True)
class CacheHit:
    """A cached answer: the completion to return, who first answered, and the EUR saved."""

    completion: dict
    provider: str
    saved_eur: Decimal

    def chunks(self) -> list[dict]:
        """The completion replayed as an OpenAI stream."""
        return completion_to_chunks(self.completion)


class ResponseCache:
    """What the hot path calls: decide and key once, then look up or store in the backend."""

    def __init__(self, backend: CacheBackend):
        self.backend = backend

    def key_for(self, account_id: str, body: dict, headers: Mapping[str, str]) -> str | None:
        """The entry's key when this request may use the cache, else None."""
        return cache_key(account_id, body) if cache_decision(body, headers) else None

    def lookup(self, key: str | None) -> CacheHit | None:
        entry = self.backend.get(key) if key else None
        if entry is None:
            return None
        return CacheHit(entry.completion, entry.provider, entry.cost_eur)

    def store(self, key: str | None, completion: dict, provider: str, cost: Decimal) -> None:
        if not key:
            return
        answer = {name: value for name, value in completion.items() if name != "aqta"}
        self.backend.put(key, CacheEntry(answer, provider, cost))


def init_app(app: Flask) -> None:
    """Cache in Redis when the app has a client (shared by every instance), else in process.

    Call after ``app.connections.init_app``, which makes the Redis client. A TTL of 0
    switches the cache off.
    """
    settings = app.config["AQTA_SETTINGS"]
    redis_client = app.extensions.get("aqta.redis")
    ttl = settings.cache_ttl_seconds
    if not ttl:
        backend: CacheBackend = NullCache()
    elif redis_client is not None:
        backend = RedisCache(redis_client, RedisKeys(settings.redis_key_prefix).cache, ttl)
    else:
        backend = MemoryCache(settings.cache_max_bytes, ttl)
    app.extensions["aqta.cache"] = ResponseCache(backend)


def response_cache() -> ResponseCache:
    return current_app.extensions["aqta.cache"]
