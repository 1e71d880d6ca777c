"""Webhook actors: one delivery attempt, the periodic sweep and the retention prune.

The work is ``app.webhooks.delivery``'s; Dramatiq never retries these actors
itself, because the retry schedule lives in the database.
"""
from __future__ import annotations

import dramatiq

from app.webhooks import delivery
from app.webhooks.delivery import (
    DELIVER_ACTOR,
    PRUNE_ACTOR,
    PRUNE_EVERY_SECONDS,
    QUEUE,
    SWEEP_ACTOR,
    SWEEP_EVERY_SECONDS,
)
from workers.options import actor_options

__all__ = ["PRUNE_EVERY_SECONDS", "SWEEP_EVERY_SECONDS", "deliver", "prune", "sweep"]


@dramatiq.actor(**actor_options(DELIVER_ACTOR, queue_name=QUEUE, time_limit_ms=10 * 60_000, max_retries=0))
def deliver(delivery_id: str, token: str | None = None) -> None:
    """One attempt at a due delivery (or one the sweep reserved under ``token``)."""
    delivery.deliver(delivery_id, token)


@dramatiq.actor(**actor_options(SWEEP_ACTOR, queue_name=QUEUE, time_limit_ms=60_000, max_retries=0,
                                max_age_ms=int(SWEEP_EVERY_SECONDS * 2000)))
def sweep() -> None:
    """Hand every due delivery to a ``deliver`` message."""
    delivery.sweep()


@dramatiq.actor(**actor_options(PRUNE_ACTOR, queue_name=QUEUE, time_limit_ms=30 * 60_000, max_retries=3,
                                max_age_ms=30 * 60_000))
def prune() -> None:
    """Delete finished events older than WEBHOOK_RETENTION_DAYS."""
    delivery.prune()
