"""``aqta worker``: Dramatiq workers on Redis that process messages, stop on SIGTERM, die on SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dramatiq
import pytest
from click.testing import CliRunner

import storage.jobs as jobs_repo
from app.cli import main
from app.jobs import make_broker
from tests.support import redis_env

REPO = Path(__file__).resolve().parents[1]
DEADLINE_SECONDS = 60  # generous: only a hung worker gets near it


@pytest.fixture
def start_worker(database_url, redis_url, jobs_namespace, redis_names, tmp_path):
    """Start ``aqta worker`` (with the test actors) as a user would; kill what is left at the end."""
    started = []

    def start(*options: str) -> subprocess.Popen:
        # The test's own stream names: a worker on the default ones would drain a deployment's.
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               **redis_env(redis_names), "JOBS_NAMESPACE": jobs_namespace,
               "SECRET_KEY": "cli-test-secret-key-0123456789"}
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # closed at teardown
        aqta = os.path.join(os.path.dirname(sys.executable), "aqta")
        process = subprocess.Popen([aqta, "worker", "tests.workers.sample_actors", "--threads", "2",
                                    *options], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        if os.environ.get("AQTA_SHOW_WORKER_LOGS"):
            print(Path(log.name).read_text())


def send_job(app, redis_url, namespace, user_id, actor_name, *args):
    """Create a job and send its message to the worker through Redis, as the web does."""
    with app.app_context():
        job = jobs_repo.create(user_id, actor_name.removeprefix("tests."))
    broker = make_broker(redis_url, namespace)
    broker.enqueue(dramatiq.Message(queue_name="default", actor_name=actor_name, args=args,
                                    kwargs={"job_id": job.id}, options={}))
    broker.close()
    return job.id


def send_echo(app, redis_url, namespace, user_id, text):
    return send_job(app, redis_url, namespace, user_id, "tests.echo", text)


def wait_until(condition, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def succeeded(app, job_id) -> bool:
    with app.app_context():
        return jobs_repo.get(job_id).status == "succeeded"


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_it_processes_a_message_from_redis_and_exits_on_sigterm(
        app, make_account, start_worker, redis_url, jobs_namespace):
    user_id = make_account().user.id
    worker = start_worker("--processes", "1")
    job_id = send_echo(app, redis_url, jobs_namespace, user_id, "over redis")
    wait_until(lambda: succeeded(app, job_id), "the worker to run the job")
    with app.app_context():
        assert jobs_repo.get(job_id).result["namespace"] == jobs_namespace
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=DEADLINE_SECONDS) == 0


def test_a_job_running_at_sigterm_finishes_before_the_worker_exits(
        app, make_account, start_worker, redis_url, jobs_namespace):
    user_id = make_account().user.id
    worker = start_worker("--processes", "1")
    job_id = send_job(app, redis_url, jobs_namespace, user_id, "tests.nap", 3.0)

    def running() -> bool:
        with app.app_context():
            return jobs_repo.get(job_id).status == "running"

    wait_until(running, "the job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=DEADLINE_SECONDS) == 0
    with app.app_context():
        job = jobs_repo.get(job_id)
    assert job.status == "succeeded" and job.result == {"slept": 3.0}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and PR_SET_PDEATHSIG")
def test_sigkill_takes_every_process_down_and_a_restart_carries_on(
        app, make_account, start_worker, redis_url, jobs_namespace):
    user_id = make_account().user.id
    worker = start_worker("--processes", "2")
    first = send_echo(app, redis_url, jobs_namespace, user_id, "before")
    wait_until(lambda: succeeded(app, first), "the first job")
    # Two workers and the scheduler, which Dramatiq forks once the workers are up.
    wait_until(lambda: len(children(worker.pid)) >= 3, "the worker's three processes")
    processes = children(worker.pid)
    worker.kill()
    worker.wait()
    wait_until(lambda: not any(alive(pid) for pid in processes), "the worker's processes to die")

    restarted = start_worker("--processes", "1")
    second = send_echo(app, redis_url, jobs_namespace, user_id, "after")
    wait_until(lambda: succeeded(app, second), "the restarted worker to run a job")
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=DEADLINE_SECONDS) == 0


def test_without_redis_it_stops_with_one_line(database_url, app):
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "cli-test-secret-key-0123456789",
           "REDIS_URL": None}
    result = CliRunner().invoke(main, ["worker"], env=env)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines()
             if line.strip() and not line.startswith("aqta: database ")]
    assert len(lines) == 1 and "REDIS_URL" in lines[0]
