"""The Dramatiq broker, set explicitly before any actor is declared.

Importing this module installs a placeholder in-process broker, so that actor
modules can be imported (and their actors declared) without Dramatiq making a
default broker behind our back, and without reading the environment at import.
``configure(redis_url)`` then installs the real one and moves every declared
actor onto it: the Redis broker when ``REDIS_URL`` is set (shared by every web
and worker process), else an in-process StubBroker that the embedded worker
(``workers.runtime``) consumes, so the single-process default still runs every job.
"""
from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, TimeLimit

from workers.middleware import AppContext, JobFailures

NAMESPACE = "aqta-jobs"  # the prefix of every Redis key Dramatiq and the scheduler use
# Per million broker commands, how many also requeue the unacknowledged messages of
# workers silent for a minute (killed mid-task). Dramatiq's 1,000 leaves them for tens
# of minutes on a quiet queue; 10,000 brings them back within a few.
MAINTENANCE_CHANCE = 10_000

_installed: tuple[tuple[str | None, str], dramatiq.Broker] | None = None  # (url, namespace), broker


def _middleware() -> list:
    # Order matters: "after" hooks run in reverse, so JobFailures sees Retries' verdict
    # and AppContext pops the app context last.
    return [AppContext(), JobFailures(), AgeLimit(), TimeLimit(), Callbacks(), Pipelines(), Retries()]


def make_broker(redis_url: str | None, namespace: str = NAMESPACE) -> dramatiq.Broker:
    """A new broker: Redis with keys under ``namespace``, or in-process without a URL."""
    if redis_url:
        return RedisBroker(url=redis_url, namespace=namespace, middleware=_middleware(),
                           maintenance_chance=MAINTENANCE_CHANCE)
    return StubBroker(middleware=_middleware())


def configure(redis_url: str | None, namespace: str = NAMESPACE) -> dramatiq.Broker:
    """Install the broker for ``redis_url`` and rebind the actors declared so far to it.

    Configuring again for the same URL and namespace keeps the installed broker (and
    so the messages an in-process worker is consuming).
    """
    global _installed
    previous = dramatiq.get_broker()
    if _installed == ((redis_url, namespace), previous):
        return previous
    broker = make_broker(redis_url, namespace)
    for actor in list(previous.actors.values()):
        actor.broker = broker
        broker.declare_actor(actor)
    dramatiq.set_broker(broker)
    _installed = ((redis_url, namespace), broker)
    return broker


def app_context(broker: dramatiq.Broker) -> AppContext:
    """The broker's AppContext middleware, which says which app actors run in."""
    return next(m for m in broker.middleware if isinstance(m, AppContext))


def from_environment() -> dramatiq.Broker:
    """For Dramatiq's CLI: ``dramatiq workers.broker:from_environment workers.actors``.

    Runs in each worker process: builds the app from the environment (which
    configures the broker from ``REDIS_URL``) and declares every actor.
    """
    from workers.runtime import boot_worker_process

    boot_worker_process(scheduler=True)
    return dramatiq.get_broker()


dramatiq.set_broker(StubBroker(middleware=_middleware()))
