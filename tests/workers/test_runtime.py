"""The embedded worker: actors enqueued by a request run in process, in the app's context."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dramatiq

import storage.jobs as jobs_repo
from app.identity.authentication import current_principal, login_required
from tests.support import wait_for
from tests.workers import sample_actors
from workers import runtime
from workers.scheduler import Periodic, Scheduler

DEADLINE_SECONDS = 30  # generous: only a hung worker gets near it



def finished_job(client, account, job_id):
    def check():
        job = client.get(f"/api/jobs/{job_id}", headers=account.headers).json
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(check, f"job {job_id} to finish")


def add_enqueue_route(app, actor, *args):
    """A view that starts a job, as a real endpoint would: create it, send its id."""

    @app.post("/test/jobs")
    @login_required
    def start_job():
        job = jobs_repo.create(current_principal().user_id, actor.actor_name)
        actor.send(*args, job_id=job.id)
        return {"id": job.id}, 202


def test_the_embedded_worker_runs_an_actor_enqueued_from_a_request(make_app, make_account):
    app = make_app(run_embedded_worker=True, jobs_namespace="embedded-test")
    add_enqueue_route(app, sample_actors.echo, "hello")
    account = make_account()
    client = app.test_client()
    assert runtime.running()
    started = client.post("/test/jobs", headers=account.headers)
    assert started.status_code == 202
    job = finished_job(client, account, started.json["id"])
    assert job["status"] == "succeeded"
    assert job["progress"] == 1.0 and (job["done"], job["total"]) == (2, 2)
    assert job["result"]["echo"] == "hello"
    assert job["result"]["namespace"] == "embedded-test"  # ran in this app's context
    assert job["started_at"] <= job["finished_at"]


def test_a_job_whose_actor_keeps_failing_is_marked_failed_without_internals(make_app, make_account):
    app = make_app(run_embedded_worker=True)
    add_enqueue_route(app, sample_actors.always_fails)
    account = make_account()
    client = app.test_client()
    job = finished_job(client, account, client.post("/test/jobs", headers=account.headers).json["id"])
    assert job["status"] == "failed"
    assert "3 times" in job["error"]  # the first attempt and two retries
    assert "secret" not in job["error"]


def test_the_time_limit_interrupts_an_embedded_actor(make_app, make_account):
    app = make_app(run_embedded_worker=True)
    add_enqueue_route(app, sample_actors.too_slow)
    account = make_account()
    client = app.test_client()
    job = finished_job(client, account, client.post("/test/jobs", headers=account.headers).json["id"])
    assert job["status"] == "failed"
    assert "time limit" in job["error"]


def test_the_embedded_scheduler_enqueues_periodic_actors(make_app):
    app = make_app()
    assert not runtime.running()  # off unless the settings ask for it
    sample_actors.TICKS.clear()
    runtime.start(app, schedule=[Periodic("tests.tick", every_seconds=0.05)])
    wait_for(lambda: len(sample_actors.TICKS) >= 3, "three ticks")
    runtime.stop(drain_seconds=0)
    assert not runtime.running()


def test_starting_twice_keeps_one_worker_and_stop_can_be_called_again(make_app):
    first = make_app(run_embedded_worker=True)
    second = make_app(run_embedded_worker=True)
    assert first.extensions["aqta.broker"] is second.extensions["aqta.broker"]
    assert runtime.running()
    runtime.stop(drain_seconds=0)
    runtime.stop(drain_seconds=0)
    assert not runtime.running()


def test_stop_drains_queued_messages_first(make_app, make_account):
    app = make_app(run_embedded_worker=True)
    account = make_account()
    with app.app_context():
        jobs = [jobs_repo.create(account.user.id, "echo") for _ in range(5)]
    for job in jobs:
        sample_actors.echo.send("drained", job_id=job.id)
    runtime.stop(drain_seconds=DEADLINE_SECONDS)
    with app.app_context():
        assert {jobs_repo.get(job.id).status for job in jobs} == {"succeeded"}


def test_every_periodic_entry_names_a_declared_actor():
    import workers.actors

    Scheduler(dramatiq.get_broker(), workers.actors.PERIODIC)  # raises ScheduleError otherwise


def test_the_embedded_worker_runs_under_gevent(app, database_url):
    """As under ``aqta serve``: threads are greenlets, and time limits still interrupt."""
    finished = subprocess.run([sys.executable, "-m", "tests.workers.gevent_embedded", database_url],
                              cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                              timeout=120)
    assert finished.returncode == 0, finished.stderr
    outcome = json.loads(finished.stdout.strip().splitlines()[-1])
    assert outcome["threading_patched"]
    echo, slow = outcome["jobs"]
    assert echo["status"] == "succeeded"
    assert slow["status"] == "failed" and "time limit" in slow["error"]
