"""The worker side of the Dramatiq broker: its middleware, and the entry for Dramatiq's CLI.

The app installs the broker (``app.jobs``); a process that runs actors adds the
middleware they need (``install_worker_middleware``). Importing this module
installs a placeholder in-process broker when none is installed yet, so actor
modules can be imported (and their actors declared) without Dramatiq making a
default broker behind our back, and without reading the environment at import;
``app.jobs.configure`` later moves every declared actor onto the real broker.
"""
from __future__ import annotations

import dramatiq
from dramatiq.middleware import AgeLimit

from app.jobs import make_broker
from workers.middleware import AppContext, JobFailures


def install_worker_middleware(broker: dramatiq.Broker) -> AppContext:
    """Add AppContext and JobFailures to ``broker`` (once); returns its AppContext.

    Order matters: "after" hooks run in reverse, so JobFailures (before Retries) sees
    Retries' verdict and AppContext, first of all, pops the app context last.
    """
    if not any(isinstance(m, AppContext) for m in broker.middleware):
        broker.add_middleware(AppContext(), before=AgeLimit)
        broker.add_middleware(JobFailures(), before=AgeLimit)
    return app_context(broker)


def app_context(broker: dramatiq.Broker) -> AppContext:
    """The broker's AppContext middleware, which says which app actors run in."""
    return next(m for m in broker.middleware if isinstance(m, AppContext))


if dramatiq.broker.global_broker is None:
    dramatiq.set_broker(make_broker(None))
