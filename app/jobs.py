"""Background jobs from the app's side: the broker it sends to, and sending by actor name.

The app never imports an actor's module (``workers/`` imports ``app/``, never the
reverse): it sends a Dramatiq message that names the actor, and whichever worker
declared that actor runs it. ``init_app`` installs the broker the settings ask
for: Redis when ``REDIS_URL`` is set (shared by every web and worker process),
else an in-process StubBroker that the embedded worker (``workers.runtime``)
consumes. Workers add their own middleware (``workers.broker``) when they boot.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
import dramatiq.errors
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, TimeLimit
from flask import Flask, current_app

import storage.jobs as jobs_repo
from app.errors import Conflict, ServiceUnavailable
from storage.account_lock import LimitReached
from storage.jobs import JobRecord

NAMESPACE = "aqta-jobs"  # the prefix of every Redis key Dramatiq and the scheduler use
DEFAULT_QUEUE = "default"
MAX_ACTIVE_JOBS = 10  # jobs queued or running per account
# Per million broker commands, how many also requeue the unacknowledged messages of
# workers silent for a minute (killed mid-task). Dramatiq's 1,000 leaves them for tens
# of minutes on a quiet queue; 10,000 brings them back within a few.
MAINTENANCE_CHANCE = 10_000

QUEUE_RETRY_AFTER_SECONDS = 5  # what a 503 job_queue_unavailable asks the caller to wait

_installed: tuple[tuple[str | None, str], dramatiq.Broker] | None = None  # (url, namespace), broker


def standard_middleware() -> list[dramatiq.Middleware]:
    """The middleware every broker has, whether it only sends or also runs actors."""
    return [AgeLimit(), TimeLimit(), Callbacks(), Pipelines(), Retries()]


def make_broker(redis_url: str | None, namespace: str = NAMESPACE) -> dramatiq.Broker:
    """A new broker: Redis with keys under ``namespace``, or in-process without a URL."""
    if redis_url:
        return RedisBroker(url=redis_url, namespace=namespace, middleware=standard_middleware(),
                           maintenance_chance=MAINTENANCE_CHANCE)
    return StubBroker(middleware=standard_middleware())


def configure(redis_url: str | None, namespace: str = NAMESPACE) -> dramatiq.Broker:
    """Install the broker for ``redis_url`` and rebind the actors declared so far to it.

    Configuring again for the same URL and namespace keeps the installed broker (and
    so the messages an in-process worker is consuming).
    """
    global _installed
    previous = dramatiq.broker.global_broker
    if previous is not None and _installed == ((redis_url, namespace), previous):
        return previous
    broker = make_broker(redis_url, namespace)
    for actor in list(previous.actors.values()) if previous is not None else ():
        actor.broker = broker
        broker.declare_actor(actor)
    dramatiq.set_broker(broker)
    _installed = ((redis_url, namespace), broker)
    return broker


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.extensions["aqta.broker"] = configure(settings.redis_url, settings.jobs_namespace)


class JobQueueUnavailable(ServiceUnavailable):
    """The broker (Redis) did not take the message."""

    code = "job_queue_unavailable"


def enqueue(actor_name: str, *, queue_name: str = DEFAULT_QUEUE, delay_ms: int | None = None,
            **kwargs: object) -> dramatiq.Message:
    """Send a message to the actor named ``actor_name`` (JSON keyword arguments only)."""
    message = dramatiq.Message(queue_name=queue_name, actor_name=actor_name, args=(),
                               kwargs=kwargs, options={})
    try:
        return current_app.extensions["aqta.broker"].enqueue(message, delay=delay_ms)
    except (redis.RedisError, dramatiq.errors.BrokerError) as exc:
        raise JobQueueUnavailable("The job queue is unavailable; retry shortly.",
                                  headers={"Retry-After": str(QUEUE_RETRY_AFTER_SECONDS)}) from exc


def queue_job(user_id: str, kind: str, actor_name: str, *, queue_name: str = DEFAULT_QUEUE,
              **kwargs: object) -> JobRecord:
    """A new job of ``kind``, sent to ``actor_name`` with ``job_id``, ``user_id`` and ``kwargs``;
    ``JobQueueUnavailable`` (503) if the broker does not take it (the job is then failed)."""
    with new_job(user_id, kind) as job:
        send_job(job, actor_name, queue_name=queue_name, **kwargs)
    return job


@contextmanager
def new_job(user_id: str, kind: str) -> Iterator[JobRecord]:
    """A new queued job for the block to hand over with ``send_job``, once it has written what
    the worker will read (the job's audit event, a run naming it).

    If the block fails, the job is marked failed at once: it must not hold one of the
    account's active slots for ever.
    """
    job = start_job(user_id, kind)
    try:
        yield job
    except JobQueueUnavailable:
        jobs_repo.fail(job.id, "The job queue was unavailable; the job never started.")
        raise
    except Exception:
        jobs_repo.fail(job.id, "The request failed before the job was handed over; it never started.")
        raise


def send_job(job: JobRecord, actor_name: str, *, queue_name: str = DEFAULT_QUEUE,
             **kwargs: object) -> None:
    enqueue(actor_name, queue_name=queue_name, job_id=job.id, user_id=job.user_id, **kwargs)


def start_job(user_id: str, kind: str) -> JobRecord:
    """A new queued job, unless the account has MAX_ACTIVE_JOBS unfinished (409 too_many_jobs)."""
    try:
        return jobs_repo.create(user_id, kind, limit=MAX_ACTIVE_JOBS)
    except LimitReached:
        raise Conflict(f"An account may have at most {MAX_ACTIVE_JOBS} jobs queued or running; "
                       "wait for one to finish.", code="too_many_jobs") from None
