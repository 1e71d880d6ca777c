"""Monthly counters missing from Redis, rebuilt from the request log: quotas' and budgets' alike.

A month's counter (a scope's requests, or a budget's spend) is missing from Redis
on its first use that month, or because Redis lost it: restarted without
persistence, flushed, failed over to an empty replica. Either way it is set
from the request log, which is the truth Redis only caches:

1. take the counter's rebuild lock (``SET NX PX``); a request that finds it taken
   waits for the other process's rebuild (a first burst of a new key waits a few
   milliseconds), and after ``REBUILD_WAIT_SECONDS`` is refused with 503
   ``counters_rebuilding`` and ``Retry-After``: it must not count from nothing;
2. drain the request log first (the Redis Stream and this host's journal), so
   records handed off but not yet in the table count too;
3. count from the table and ``SET NX`` the counter (a counter another process
   rebuilt meanwhile is kept), then let the lock go.

This costs one database query per scope and month (the first request of a key
in a month), never one per request.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import redis

from app.errors import ServiceUnavailable
from app.gateway.admission.quotas import MONTHLY_TTL
from app.gateway.request_log.drain import drain_all

REBUILD_LOCK_MS = 15_000  # longest a rebuild may hold its counters (ms); it takes well under
REBUILD_DRAIN_SECONDS = 2.0  # the drain before counting: its stream budget and journal-lock wait
REBUILD_WAIT_SECONDS = 2.0  # how long a request waits for another process's rebuild, then 503
REBUILD_POLL_SECONDS = 0.02  # how often it looks meanwhile
RETRY_AFTER_SECONDS = 1  # what a request refused during a rebuild is told to wait


class CountersRebuilding(ServiceUnavailable):
    code = "counters_rebuilding"


class CounterRebuilder:
    """Sets missing counters from the request log, one process per counter at a time."""

    def __init__(self, client: redis.Redis, lock_prefix: str):
        self.client = client
        self.lock_prefix = lock_prefix

    def rebuild(self, seeds: dict[str, Callable[[], int]]) -> list[int]:
        """Set each key in ``seeds`` that Redis lacks to its seed (a count from the log);
        return every key's value, in order. Raises ``CountersRebuilding`` when another process
        is still rebuilding one of them after ``REBUILD_WAIT_SECONDS``, and Redis's or the
        database's errors as they come."""
        token = secrets.token_hex(8)
        ours, theirs = [], []
        try:
            for key in seeds:
                locked = self.client.set(self.lock_prefix + key, token, nx=True, px=REBUILD_LOCK_MS)
                (ours if locked else theirs).append(key)
            if ours:
                drain_all(budget_seconds=REBUILD_DRAIN_SECONDS, wait_seconds=REBUILD_DRAIN_SECONDS)
                counted = {key: seeds[key]() for key in ours}
                pipe = self.client.pipeline(transaction=False)
                for key, value in counted.items():
                    pipe.set(key, value, nx=True, ex=MONTHLY_TTL)
                pipe.execute()
        finally:
            if ours:
                self.client.delete(*(self.lock_prefix + key for key in ours))
        if theirs:
            self._wait_for(theirs)
        return [int(value) for value in self.client.mget(list(seeds))]

    def _wait_for(self, keys: list[str]) -> None:
        """Wait until another process has set ``keys``; refuse the request if it takes too long."""
        deadline = time.monotonic() + REBUILD_WAIT_SECONDS
        while self.client.exists(*keys) < len(keys):
            if time.monotonic() >= deadline:
                raise CountersRebuilding(
                    "Usage counters are being rebuilt from the request log; retry shortly.",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            time.sleep(REBUILD_POLL_SECONDS)
