"""Every actor module, imported so its actors are declared, and the periodic schedule.

Dramatiq's CLI imports this module in each worker process (``aqta worker``), and
the embedded worker imports it before it starts. Add a line per actor module:
a module listed here that cannot be imported stops the worker with an
ImportError (never a silently missing actor). Add a ``Periodic`` entry per
actor that must run on a timer; it names the actor by its ``actor_name``.
"""
from __future__ import annotations

import workers.broker  # noqa: F401  (our broker, before any actor is declared)

# One import per actor module (with a noqa for F401), e.g. ``import workers.costs``.
import workers.compliance_bias
import workers.compliance_reports  # noqa: F401
import workers.costs
import workers.healthcare_log
import workers.request_log
import workers.webhooks
from workers.scheduler import Periodic

PERIODIC: list[Periodic] = [
    Periodic(workers.costs.AGGREGATE_JOB, every_seconds=workers.costs.AGGREGATE_EVERY_SECONDS),
    Periodic(workers.costs.RETENTION_ACTOR, every_seconds=workers.costs.RETENTION_EVERY_SECONDS),
    Periodic(workers.request_log.DRAIN_ACTOR, every_seconds=workers.request_log.DRAIN_EVERY_SECONDS),
    Periodic(workers.webhooks.SWEEP_ACTOR, every_seconds=workers.webhooks.SWEEP_EVERY_SECONDS),
    Periodic(workers.healthcare_log.SEQUENCE_ACTOR,
             every_seconds=workers.healthcare_log.SEQUENCE_EVERY_SECONDS),
    Periodic(workers.webhooks.PRUNE_ACTOR, every_seconds=workers.webhooks.PRUNE_EVERY_SECONDS),
    Periodic(workers.compliance_bias.MONITOR_ACTOR,
             every_seconds=workers.compliance_bias.MONITOR_EVERY_SECONDS),
    Periodic(workers.healthcare_log.EXPIRE_ACTOR, every_seconds=workers.healthcare_log.EXPIRE_EVERY_SECONDS),
]
