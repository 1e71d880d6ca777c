"""Every Redis key the app writes, in one place, under one configurable prefix.

``REDIS_KEY_PREFIX`` (default ``aqta:``) lets several deployments share one Redis.
The request log's stream has its own setting (``REQUEST_LOG_STREAM``) and the job
queues theirs (``JOBS_NAMESPACE``), as both are read by other processes by name.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "aqta:"

    @property
    def rate(self) -> str:
        """A key's moving rate window: ``rate`` + key id (a list of request times)."""
        return self.prefix + "rate:"

    @property
    def quota(self) -> str:
        """Monthly request counters: ``quota`` + scope + period."""
        return self.prefix + "quota:"

    @property
    def spend(self) -> str:
        """Monthly budget spend in micro-cents: ``spend`` + budget + period."""
        return self.prefix + "spend:"

    @property
    def rebuilding(self) -> str:
        """A counter's rebuild lock while it is set from the request log: ``rebuilding`` + its key."""
        return self.prefix + "rebuilding:"

    @property
    def loops(self) -> str:
        """Loop detection's request history per key (and end user)."""
        return self.prefix + "loops:"

    @property
    def cache(self) -> str:
        """Cached answers by request fingerprint."""
        return self.prefix + "cache:"

    @property
    def alerted(self) -> str:
        """Once-only marks of alerts already raised."""
        return self.prefix + "alerted:"


def redis_keys() -> RedisKeys:
    return RedisKeys(current_app.config["AQTA_SETTINGS"].redis_key_prefix)
