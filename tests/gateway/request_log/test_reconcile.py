"""Streams on a web worker that is SIGKILLed mid-answer still end up in the request log, with a cost."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import requests

import storage.requests as requests_repo
from app.gateway.admission.quotas import current_period, month_start
from app.gateway.request_log.drain import drain_all
from app.gateway.request_log.sink import request_log
from storage.ids import utcnow
from tests.conftest import first_backend_only
from tests.gateway.admission.quota_race import AQTA, free_port, wait_ready
from tests.support import wait_for
from tests.support.request_records import request_record

STREAMS = 8
GRACE_SECONDS = 6  # REQUEST_RECONCILE_SECONDS: well past the streams' ~3 s
CHUNK_DELAY_SECONDS = 0.25  # the fake's pause between events: ten of them make a stream


def children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def connections_on(pid: int, port: int) -> int:
    """Established TCP connections to ``port`` that process ``pid`` holds (its clients)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
            held += local_port == port and state == "01" and inode in inodes
    return held


def test_streams_of_a_killed_worker_are_closed_in_the_log_with_a_cost(
        request, make_app, make_account, settings, redis_url, jobs_namespace, fakes, tmp_path):
    first_backend_only(request, "one real server run is enough; the storage paths run everywhere")
    stream = f"{jobs_namespace}:request-log"
    app = make_app(redis_url=redis_url, redis_key_prefix=jobs_namespace + ":",
                   request_log_stream=stream, request_reconcile_seconds=GRACE_SECONDS,
                   request_journal_dir=str(tmp_path / "journal"))
    account = make_account(tier="pro")
    fakes["openai"].chunk_delay = CHUNK_DELAY_SECONDS
    env = {name: value for name, value in os.environ.items() if not name.endswith("_URL")}
    env.update(DATABASE_URL=settings.database_url, REDIS_URL=redis_url, SECRET_KEY=settings.secret_key,
               REDIS_KEY_PREFIX=jobs_namespace + ":", REQUEST_LOG_STREAM=stream,
               JOBS_NAMESPACE=jobs_namespace, REQUEST_JOURNAL_DIR=str(tmp_path / "journal"),
               OPENAI_API_KEY="upstream-key-openai", OPENAI_BASE_URL=fakes["openai"].url + "/v1",
               SHUTDOWN_GRACE_SECONDS="2")  # the streams left at the end need not finish
    port = free_port()
    server = subprocess.Popen([AQTA, "serve", "--port", str(port), "--workers", "2"], env=env,
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    answering = threading.Barrier(STREAMS + 1)

    def ask(number: int) -> tuple[str, bool]:
        """(the request id, whether the stream ended with [DONE])."""
        response = requests.post(f"{base}/v1/chat/completions", stream=True, timeout=30,
                                 headers=account.headers,
                                 json={"model": "gpt-4o", "stream": True, "messages": [
                                     {"role": "user", "content": f"Stream number {number}, please."}]})
        assert response.status_code == 200
        answering.wait()
        body = b""
        try:
            for piece in response.iter_content(chunk_size=None):
                body += piece
        except requests.RequestException:  # the worker died under it
            pass
        return response.headers["X-Request-Id"], body.rstrip().endswith(b"data: [DONE]")

    try:
        wait_ready(base, server)
        with ThreadPoolExecutor(max_workers=STREAMS) as pool:
            asked = [pool.submit(ask, number) for number in range(STREAMS)]
            answering.wait(timeout=30)  # every stream has its first chunk: each is handed off
            held = {pid: connections_on(pid, port) for pid in children(server.pid)}
            victim = max(held, key=held.get)
            assert held[victim] > 0
            os.kill(victim, signal.SIGKILL)
            outcomes = dict(future.result() for future in asked)
    finally:
        server.terminate()
        server.wait(timeout=30)

    cut = {request_id for request_id, done in outcomes.items() if not done}
    assert cut, "the killed worker held no stream"

    def logged() -> dict:
        with app.app_context():
            drain_all()
            records = {request_id: requests_repo.get(request_id) for request_id in outcomes}
        return records if all(records.values()) else None

    records = wait_for(logged, "every admitted stream in the request log", GRACE_SECONDS + 30)
    for request_id, record in records.items():
        assert record.cost_eur > Decimal(0)
        if request_id in cut:
            assert (record.status, record.error_code) == ("client_disconnected", "worker_lost")
            assert record.prompt_tokens > 0
        else:
            assert (record.status, record.error_code) == ("ok", None)


def test_a_start_is_closed_only_after_the_grace_and_a_late_final_record_wins(make_app):
    app = make_app(request_reconcile_seconds=60)  # embedded: the hand-off is the journal
    now = utcnow()
    with app.app_context():
        running = request_record("usr_streams", "key_a", now, status="started", cost="0.00000300",
                                 completion_tokens=0)
        dead = request_record("usr_streams", "key_a", now - timedelta(seconds=61), status="started",
                              cost="0.00000200", completion_tokens=0)
        finished = request_record("usr_streams", "key_a", now - timedelta(seconds=90),
                                  status="started", completion_tokens=0)
        for record in (running, dead, finished, replace(finished, status="ok")):
            request_log().append(record)
        drain_all(wait_seconds=10)
        assert requests_repo.get(running.request_id) is None  # still streaming, for all we know
        closed = requests_repo.get(dead.request_id)
        assert (closed.status, closed.error_code) == ("client_disconnected", "worker_lost")
        assert closed.cost_eur == Decimal("0.00000200")
        assert requests_repo.get(finished.request_id).status == "ok"
        # The running stream and the closed one used quota; so did the finished one.
        assert requests_repo.quota_used_since("usr_streams", month_start(current_period(now)),
                                              "key_a") == 3
        request_log().append(replace(dead, status="ok", completion_tokens=40, cost_eur=Decimal("0.0001")))
        drain_all(wait_seconds=10)
        late = requests_repo.get(dead.request_id)
        assert (late.status, late.error_code, late.completion_tokens) == ("ok", None, 40)
