"""Actors for the tests, declared as the real ones are (``aqta worker`` can import this module)."""
from __future__ import annotations

import time

import dramatiq
from flask import current_app

import storage.jobs as jobs_repo
from workers.options import actor_options

TICKS: list[float] = []  # when ``tick`` ran, in this process


@dramatiq.actor(**actor_options("tests.echo", max_retries=0, time_limit_ms=30_000))
def echo(text: str, job_id: str) -> None:
    """A job in two steps: it needs the database, which the app's context provides."""
    if jobs_repo.mark_running(job_id).finished:
        return
    jobs_repo.report_progress(job_id, done=1, total=2)
    jobs_repo.succeed(job_id, {"echo": text, "namespace": current_app.config["AQTA_SETTINGS"].jobs_namespace,
                               "links": {"self": f"/api/jobs/{job_id}"}})


@dramatiq.actor(**actor_options("tests.always_fails", max_retries=2, min_backoff_ms=10,
                                max_backoff_ms=20))
def always_fails(job_id: str) -> None:
    jobs_repo.mark_running(job_id)
    raise RuntimeError("secret internals")


@dramatiq.actor(**actor_options("tests.too_slow", max_retries=0, time_limit_ms=100))
def too_slow(job_id: str) -> None:
    jobs_repo.mark_running(job_id)
    for _ in range(600):  # short sleeps: the time limit interrupts between bytecodes
        time.sleep(0.05)


@dramatiq.actor(**actor_options("tests.nap", max_retries=0, time_limit_ms=60_000))
def nap(seconds: float, job_id: str) -> None:
    """A job that takes ``seconds``: long enough to be running when its worker is told to stop."""
    jobs_repo.mark_running(job_id)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    jobs_repo.succeed(job_id, {"slept": seconds})


@dramatiq.actor(**actor_options("tests.tick", max_retries=0))
def tick() -> None:
    TICKS.append(time.time())
