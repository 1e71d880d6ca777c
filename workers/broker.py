"""The Dramatiq broker, set explicitly before any actor is declared.

Importing this module installs a placeholder in-process broker, so that actor
modules can be imported (and their actors declared) without Dramatiq making a
default broker behind our back, and without reading the environment at import.
``configure(redis_url)`` then installs the real one and moves every declared
actor onto it: the Redis broker when ``REDIS_URL`` is set (shared by every web
and worker process), else an in-process StubBroker that ``aqta serve`` runs a
worker for, so the single-process default still runs every job.
"""
from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, TimeLimit

NAMESPACE = "aqta-jobs"


def _middleware() -> list:
    return [AgeLimit(), TimeLimit(), Callbacks(), Pipelines(), Retries()]


def make_broker(redis_url: str | None) -> dramatiq.Broker:
    if redis_url:
        return RedisBroker(url=redis_url, namespace=NAMESPACE, middleware=_middleware())
    return StubBroker(middleware=_middleware())


def configure(redis_url: str | None) -> dramatiq.Broker:
    """Install the broker for ``redis_url`` and rebind the actors declared so far to it."""
    previous = dramatiq.get_broker()
    broker = make_broker(redis_url)
    for actor in list(previous.actors.values()):
        actor.broker = broker
        broker.declare_actor(actor)
    dramatiq.set_broker(broker)
    return broker


def from_environment() -> dramatiq.Broker:
    """For Dramatiq's own CLI: ``dramatiq workers.broker:from_environment workers.actors``."""
    broker = configure(os.environ.get("REDIS_URL") or None)
    import workers.actors  # noqa: F401  (declares every actor on the configured broker)

    return broker


dramatiq.set_broker(StubBroker(middleware=_middleware()))
