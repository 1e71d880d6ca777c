"""The log under real processes: ``aqta serve`` with two gunicorn workers, two ``aqta worker``s,
1,000 concurrent answers, and one worker SIGKILLed with leaves in hand."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

import storage.keys as keys_repo
import storage.transparency_log as log_repo
from app.healthcare import merkle
from app.healthcare.sequencer import GROUP
from storage.log_models import LogCheckpoint, LogEntry
from tests.conftest import first_backend_only
from tests.healthcare.conftest import MESSAGES
from tests.support import wait_for

REQUESTS = 1000
LEAVES = 2 * REQUESTS  # each answer's receipt, and the amendment with its risk assessment
AQTA = str(Path(sys.executable).with_name("aqta"))
START_SECONDS = 60  # a fresh interpreter importing the app is slow on a busy machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(argv: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    """A process group of its own, so a SIGKILL takes every process it forked down at once."""
    with open(log, "wb") as out:
        return subprocess.Popen([AQTA, *argv], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def holders(client: redis.Redis, stream: str) -> set[int]:
    """Pids of the consumers holding leaves they read and have not stored yet."""
    try:
        entries = client.xpending_range(stream, GROUP, "-", "+", 100)
    except redis.ResponseError:  # no group yet
        return set()
    return {int(entry["consumer"].decode().rsplit("-", 1)[1]) for entry in entries}


def group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_two_web_processes_and_two_workers_sequence_a_thousand_receipts_exactly(
        request, app, healthcare, settings, redis_url, jobs_namespace, tmp_path):
    first_backend_only(request, "real processes on one backend; the sequencing itself runs on all "
                                "three in test_sequencing")
    with app.app_context():  # a thousand identical requests: not a loop, not over the limit
        keys_repo.set_limits(healthcare.user.id, healthcare.key_id, rpm_limit=REQUESTS * 10,
                             loop_settings={"enabled": False})
    stream = f"{jobs_namespace}:stream:log-pending"
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url,
           "SECRET_KEY": settings.secret_key, "JOBS_NAMESPACE": jobs_namespace, "LOG_STREAM": stream,
           "REQUEST_LOG_STREAM": f"{jobs_namespace}:stream:request-log",
           "LOG_JOURNAL_DIR": str(tmp_path / "log-journal"),
           "RISK_STREAM": f"{jobs_namespace}:stream:risk-cases",
           "RISK_JOURNAL_DIR": str(tmp_path / "risk-journal"),
           "REQUEST_JOURNAL_DIR": str(tmp_path / "journal"), "MOCK_RESPONSE_WORDS": "8"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monitor = redis.Redis.from_url(redis_url)
    processes = [start(["serve", "--port", str(port), "--workers", "2"], env, tmp_path,
                       tmp_path / "serve.log")]
    processes += [start(["worker", "--processes", "1", "--threads", "2"], env, tmp_path,
                        tmp_path / f"worker-{n}.log") for n in range(2)]
    web, workers = processes[0], processes[1:]
    session = requests.Session()

    def ask(number: int) -> str:
        response = session.post(url + "/v1/chat/completions", headers=healthcare.headers,
                                json={"model": "mock-1", "messages": MESSAGES}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["aqta"]["receipt_id"]

    def sequenced() -> int:
        with app.app_context():
            return (log_repo.state() or log_repo.TreeState(0, b"")).size

    try:
        wait_for(lambda: ready(url), "aqta serve to answer", START_SECONDS)
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = pool.map(ask, range(REQUESTS))
            wait_for(lambda: sequenced() > 0, "the workers to sequence", START_SECONDS)
            # Kill the worker holding leaves it read and has not stored, if we catch one at it.
            deadline = time.monotonic() + 10
            caught: set[int] = set()
            while not caught and time.monotonic() < deadline:
                caught = {group_of(pid) for pid in holders(monitor, stream)} & {w.pid for w in workers}
                time.sleep(0.001)
            doomed = next((w for w in workers if w.pid in caught), workers[0])
            kill_group(doomed)
            receipt_ids = list(answers)
        survivor = next(w for w in workers if w is not doomed)
        assert survivor.poll() is None and web.poll() is None
        wait_for(lambda: sequenced() >= LEAVES, "every receipt and assessment to be sequenced", 90)
        with app.app_context():
            wait_for(lambda: log_repo.latest_checkpoint().size == LEAVES, "a checkpoint of them all")
            rows = list(LogEntry.select(LogEntry.id, LogEntry.leaf_type, LogEntry.leaf_data,
                                        LogEntry.leaf_index, LogEntry.leaf_hash)
                        .order_by(LogEntry.leaf_index))
            receipts = [row.id for row in rows if row.leaf_type == "receipt"]
            assert sorted(receipts) == sorted(receipt_ids)  # none lost, none extra
            assessed = [json.loads(row.leaf_data)["receipt_id"] for row in rows
                        if row.leaf_type == "amendment"]
            assert sorted(assessed) == sorted(receipt_ids)  # one assessment each, the killed worker's too
            assert [row.leaf_index for row in rows] == list(range(LEAVES))  # no gap, no double
            state = log_repo.state()
            assert state.size == LEAVES
            assert state.root == merkle.root_of([bytes.fromhex(row.leaf_hash) for row in rows])
            assert LogCheckpoint.select().where(LogCheckpoint.size > LEAVES).count() == 0
        wait_for(lambda: monitor.xlen(stream) == 0, "every stream entry to be acknowledged")
        assert monitor.xlen(env["RISK_STREAM"]) == 0  # every sealed case deleted once assessed
    finally:
        for process in processes:
            kill_group(process)
        monitor.close()
        session.close()
        if os.environ.get("AQTA_SHOW_WORKER_LOGS"):
            for log in sorted(tmp_path.glob("*.log")):
                print(log.name, log.read_text()[-3000:])
