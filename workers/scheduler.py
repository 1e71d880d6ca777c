"""The periodic scheduler: enqueues each periodic actor once per period.

Time is cut into slots of ``every_seconds`` of wall-clock time, the same in every
process. A scheduler enqueues an actor once per slot; with Redis each process
that runs one first takes a lock for that actor and slot (``SET NX PX``), so
however many schedulers run (one per ``aqta worker``, one per embedded web
process), exactly one enqueues per period. Embedded, there is a single process
and no lock.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dramatiq
import redis

log = logging.getLogger(__name__)
MIN_WAIT_SECONDS = 0.001  # never spin at a slot boundary


@dataclass(frozen=True)
class Periodic:
    """Enqueue the actor named ``actor_name`` (without arguments) every ``every_seconds``."""

    actor_name: str
    every_seconds: float

    def __post_init__(self):
        if not self.every_seconds > 0:
            raise ValueError(f"{self.actor_name}: every_seconds must be positive")


class ScheduleError(Exception):
    """The schedule names an actor no imported module declares."""


class Scheduler:
    """Enqueues ``schedule``'s actors on ``broker``; ``redis`` shares the slots between processes."""

    def __init__(self, broker: dramatiq.Broker, schedule: Iterable[Periodic], *,
                 redis_client: redis.Redis | None = None, namespace: str = "aqta-jobs",
                 clock: Callable[[], float] = time.time):
        self.schedule = list(schedule)
        self.redis = redis_client
        self.namespace = namespace
        self.clock = clock
        missing = [entry.actor_name for entry in self.schedule if entry.actor_name not in broker.actors]
        if missing:
            raise ScheduleError(f"the schedule names undeclared actor(s) {', '.join(missing)}; "
                                "import their module in workers/actors.py")
        self._actors = {entry.actor_name: broker.get_actor(entry.actor_name) for entry in self.schedule}
        self._last_slot: dict[Periodic, int] = {}
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: float | None = None) -> list[str]:
        """Enqueue every actor whose slot at ``now`` was not handled yet; return their names."""
        now = self.clock() if now is None else now
        enqueued = []
        for entry in self.schedule:
            slot = math.floor(now / entry.every_seconds)
            if self._last_slot.get(entry) == slot:
                continue
            self._last_slot[entry] = slot
            if self._claim(entry, slot):
                self._actors[entry.actor_name].send()
                enqueued.append(entry.actor_name)
        return enqueued

    def _claim(self, entry: Periodic, slot: int) -> bool:
        if self.redis is None:
            return True
        key = f"{self.namespace}:schedule:{entry.actor_name}:{slot}"
        ttl_ms = max(1, math.ceil(2 * entry.every_seconds * 1000))  # outlives the slot, then goes
        return bool(self.redis.set(key, self._owner, nx=True, px=ttl_ms))

    def seconds_to_next_slot(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        waits = [(math.floor(now / e.every_seconds) + 1) * e.every_seconds - now for e in self.schedule]
        return max(MIN_WAIT_SECONDS, min(waits, default=60.0))

    def run(self) -> None:
        """Tick at every slot boundary until ``stop()``; an error is logged and the next slot tried."""
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # Redis down, say: the next slot tries again
                log.exception("the scheduler could not enqueue its periodic actors")
            self._stop.wait(self.seconds_to_next_slot())

    def start(self) -> None:
        """Run in a daemon thread (a greenlet once gevent has patched threading)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="aqta-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
            self._thread = None
