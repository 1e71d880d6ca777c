"""The defaults every Aqta actor is declared with: time-limited, retried with backoff.

Actors must be idempotent (a retry, or a redelivery after a worker died, runs
them again), so retrying is safe. Declare one like this::

    import dramatiq

    from workers.options import actor_options

    @dramatiq.actor(**actor_options("costs.aggregate", time_limit_ms=60_000, max_retries=3))
    def aggregate() -> None:
        ...

The name is explicit so that it is stable and unique across modules; the
periodic schedule (``workers.actors.PERIODIC``) refers to actors by it. Send with
``aggregate.send(...)`` (arguments must be JSON). An actor that works on a job
takes it as the keyword argument ``job_id``: ``export.send(job_id=job.id)``; if it
fails for good (retries spent, time limit, too long in the queue), the job is
marked failed for it (``workers.middleware.JobFailures``).

Importing this module installs Aqta's broker first (``workers.broker``), so
Dramatiq never makes a default one behind our back.
"""
from __future__ import annotations

import workers.broker  # noqa: F401  (our broker, before any actor is declared)

DEFAULT_QUEUE = "default"
DEFAULT_TIME_LIMIT_MS = 5 * 60_000  # ms an actor may run before it is interrupted
DEFAULT_MAX_RETRIES = 5  # retries after the first attempt
DEFAULT_MIN_BACKOFF_MS = 1_000  # ms before the first retry; doubles each time, with jitter
DEFAULT_MAX_BACKOFF_MS = 5 * 60_000  # ms, the longest wait between two attempts


def actor_options(actor_name: str, *, queue_name: str = DEFAULT_QUEUE,
                  time_limit_ms: int = DEFAULT_TIME_LIMIT_MS, max_retries: int = DEFAULT_MAX_RETRIES,
                  min_backoff_ms: int = DEFAULT_MIN_BACKOFF_MS,
                  max_backoff_ms: int = DEFAULT_MAX_BACKOFF_MS, max_age_ms: int | None = None,
                  priority: int = 0) -> dict[str, object]:
    """Keyword arguments for ``dramatiq.actor``, with Aqta's defaults filled in.

    ``max_age_ms`` drops a message that waited longer than that in the queue (useful
    for periodic work the next tick redoes anyway); ``priority``: lower runs first.
    """
    if time_limit_ms <= 0 or max_retries < 0 or not 0 < min_backoff_ms <= max_backoff_ms:
        raise ValueError("time_limit_ms must be positive, max_retries at least 0, and "
                         "0 < min_backoff_ms <= max_backoff_ms")
    options: dict[str, object] = {
        "actor_name": actor_name, "queue_name": queue_name, "priority": priority,
        "time_limit": time_limit_ms, "max_retries": max_retries,
        "min_backoff": min_backoff_ms, "max_backoff": max_backoff_ms,
    }
    if max_age_ms is not None:
        options["max_age"] = max_age_ms
    return options
