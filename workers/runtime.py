"""Where actors run: inside the web process (embedded), or in ``aqta worker``'s processes.

Embedded (the default without ``REDIS_URL``): the app factory starts a Dramatiq
``Worker`` on the in-process broker and the scheduler, as threads; under
gunicorn's gevent worker those are greenlets, because gevent patched threading
before the app was built. ``stop()`` ends both, and runs at exit.

``aqta worker``: Dramatiq's CLI under gevent (``python -m workers``). Each worker
process boots through ``boot_worker_process``; one more process, forked and
supervised by Dramatiq's master, runs the scheduler (``run_scheduler``).
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dramatiq
from dramatiq import Middleware
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import QueueJoinTimeout

import workers.actors
from app import create_app
from app.config import settings_from_env
from workers.broker import install_worker_middleware
from workers.scheduler import Periodic, Scheduler

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)
EMBEDDED_THREADS = 4  # worker threads (greenlets under gevent) of the embedded worker
EMBEDDED_POLL_MS = 100  # ms an idle embedded thread waits before it checks for shutdown
EXIT_DRAIN_SECONDS = 5.0  # how long exit waits for queued in-process messages to run
STOP_TIMEOUT_MS = 10_000  # ms stop() waits for running actors to finish
PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a process gets when its parent dies


@dataclass
class _Embedded:
    broker: dramatiq.Broker
    worker: dramatiq.Worker
    scheduler: Scheduler
    pid: int


_embedded: _Embedded | None = None
_booted: weakref.WeakSet = weakref.WeakSet()  # brokers whose process_boot hooks have run
_exit_hook_registered = False


def init_app(app: Flask) -> None:
    """Ready the app's broker to run actors here; start the embedded worker if the settings say so.

    The composition root calls it after ``create_app`` (``wsgi.py``, the tests): the
    app itself never imports ``workers``.
    """
    settings = app.config["AQTA_SETTINGS"]
    broker = app.extensions["aqta.broker"]
    install_worker_middleware(broker)
    if _embedded is not None and _embedded.broker is not broker:
        stop(drain_seconds=0)  # its broker was replaced; it would consume nothing more
    if settings.run_embedded_worker:
        start(app)


def start(app: Flask, schedule: list[Periodic] | None = None) -> None:
    """Run actors in this process, in ``app``'s context, and the schedule (default: PERIODIC).

    Starting again while running only makes actors use ``app``.
    """
    global _embedded, _exit_hook_registered
    broker = dramatiq.get_broker()
    install_worker_middleware(broker).app = app
    if _embedded is not None and _embedded.pid == os.getpid():
        return
    settings = app.config["AQTA_SETTINGS"]
    scheduler = Scheduler(broker, workers.actors.PERIODIC if schedule is None else schedule,
                          redis_client=app.extensions["aqta.redis"], namespace=settings.jobs_namespace)
    if broker not in _booted:  # once per broker: TimeLimit starts its watchdog thread here
        broker.emit_after("process_boot")
        _booted.add(broker)
    worker = dramatiq.Worker(broker, worker_threads=EMBEDDED_THREADS, worker_timeout=EMBEDDED_POLL_MS)
    worker.start()
    scheduler.start()
    _embedded = _Embedded(broker, worker, scheduler, os.getpid())
    if not _exit_hook_registered:
        atexit.register(stop, drain_seconds=EXIT_DRAIN_SECONDS)
        _exit_hook_registered = True
    log.info("embedded worker started: %d threads, %d periodic actor(s)",
             EMBEDDED_THREADS, len(scheduler.schedule))


def running() -> bool:
    return _embedded is not None and _embedded.pid == os.getpid()


def stop(drain_seconds: float = EXIT_DRAIN_SECONDS) -> None:
    """Stop the scheduler, let queued messages run for up to ``drain_seconds``, stop the worker.

    In-process messages still queued after that are dropped (and counted in the log),
    as they would be by exiting; so tests start from an empty queue.
    """
    global _embedded
    embedded, _embedded = _embedded, None
    if embedded is not None and embedded.pid == os.getpid():
        embedded.scheduler.stop()
        _drain(embedded.broker, drain_seconds)
        embedded.worker.stop(timeout=STOP_TIMEOUT_MS)
        # Worker.start added a middleware that would keep adding consumers to this
        # stopped worker for queues declared later; take it out.
        embedded.broker.middleware[:] = [m for m in embedded.broker.middleware
                                         if getattr(m, "worker", None) is not embedded.worker]
    broker = dramatiq.get_broker()
    if isinstance(broker, StubBroker):
        dropped = sum(queue.qsize() for queue in broker.queues.values())
        broker.flush_all()
        if dropped:
            log.warning("dropped %d queued in-process job message(s)", dropped)


def _drain(broker: dramatiq.Broker, seconds: float) -> None:
    if not isinstance(broker, StubBroker) or seconds <= 0:
        return  # Redis keeps what is queued; the worker's stop requeues what it prefetched
    deadline = time.monotonic() + seconds
    for queue_name in broker.get_declared_queues():
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            return
        try:
            broker.join(queue_name, timeout=remaining_ms, fail_fast=False)
        except QueueJoinTimeout:
            return


class SchedulerProcess(Middleware):
    """Has Dramatiq's master fork one process, beside the workers, that runs the scheduler."""

    @property
    def forks(self):
        return [run_scheduler]


def boot_worker_process(*, scheduler: bool = False) -> Flask:
    """Set up a process Dramatiq's CLI started: the app from the environment, every actor.

    ``scheduler`` asks the master for the scheduler's process (once per ``aqta worker``).
    """
    exit_with_parent()
    settings = settings_from_env().override(run_embedded_worker=False)
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: a separate worker needs the Redis broker "
                           "the web processes send to")
    app = create_app(settings)
    broker = dramatiq.get_broker()
    install_worker_middleware(broker).app = app
    if scheduler:
        broker.add_middleware(SchedulerProcess())
    return app


def run_scheduler() -> int:
    """The scheduler's process under ``aqta worker``: ticks until Dramatiq's master stops it."""
    app = boot_worker_process()
    scheduler = Scheduler(dramatiq.get_broker(), workers.actors.PERIODIC,
                          redis_client=app.extensions["aqta.redis"],
                          namespace=app.config["AQTA_SETTINGS"].jobs_namespace)
    log.info("scheduler started: %d periodic actor(s)", len(scheduler.schedule))
    scheduler.run()  # until SIGTERM: Dramatiq's handler raises SystemExit
    return 0


def from_environment() -> dramatiq.Broker:
    """For Dramatiq's CLI: ``dramatiq workers.runtime:from_environment workers.actors``.

    Runs in each worker process: builds the app from the environment (which
    configures the broker from ``REDIS_URL``); every actor is declared on import.
    """
    boot_worker_process(scheduler=True)
    return dramatiq.get_broker()


def exit_with_parent() -> None:
    """Die with the Dramatiq master that forked this process, so a SIGKILLed
    ``aqta worker`` leaves nothing behind consuming (Linux; elsewhere a no-op)."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        log.warning("could not ask to die with the parent process (errno %d)", ctypes.get_errno())
        return
    if os.getppid() != parent.pid:  # it died before we asked
        os._exit(1)
