"""A stop or a reload during 100 streams: every stream finishes, and every one is logged.

A real ``aqta serve`` (embedded: the journal is the request log's hand-off) streams
from the fake OpenAI upstream, one chunk every ``CHUNK_DELAY`` seconds, so each
stream outlives gunicorn's old fixed 10 s grace. After SIGTERM the server refuses
new connections at once, finishes all 100 streams, flushes its journal into the
table and exits; the table then holds all 100 answers, each ``ok``. After SIGHUP
(a reload) a new worker takes new connections while the old one finishes its
streams, flushes and exits.
"""
from __future__ import annotations

import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests

from tests.conftest import first_backend_only
from tests.fakes.openai_upstream import word_pieces
from tests.support import wait_for
from tests.support.serve import create_key, free_port, fresh_env, start_serve

STREAMS = 100
CHUNK_DELAY = 1.4  # seconds between upstream events: 9 events, about 12.6 s a stream


@pytest.fixture
def slow_upstream(openai_upstream):
    openai_upstream.chunk_delay = CHUNK_DELAY
    return openai_upstream


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
def test_100_streams_finish_through_a_stop_or_reload_and_each_is_logged(request, database_url,
                                                                        slow_upstream, tmp_path, stop):
    first_backend_only(request, "gunicorn's shutdown, not the database, is under test")
    env = fresh_env(DATABASE_URL=f"sqlite:///{tmp_path}/aqta.db",
                    SECRET_KEY="shutdown-test-secret-0123456789", XDG_RUNTIME_DIR=str(tmp_path),
                    OPENAI_API_KEY="upstream-key", OPENAI_BASE_URL=f"{slow_upstream.url}/v1",
                    SHUTDOWN_GRACE_SECONDS="40", LOG_LEVEL="WARNING")
    key = create_key(tmp_path, env, "streams@example.com", "--tier", "pro")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port, env, "--worker-connections", "300")
    started = threading.Semaphore(0)

    sdk = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=90)

    def stream(n: int) -> tuple[str, str, str]:
        """One stream, read to its end: (request id from the header, from the aqta block, text)."""
        # A user each: a hundred near-identical prompts from one caller would be a loop.
        raw = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o", stream=True, user=f"client-{n}",
            messages=[{"role": "user", "content": f"stream {n}"}])
        text, block = "", None
        for number, chunk in enumerate(raw.parse()):
            if number == 0:
                started.release()
            text += "".join(c.delta.content or "" for c in chunk.choices)
            block = (chunk.model_extra or {}).get("aqta", block)
        return raw.headers["x-request-id"], block["request_id"], text

    try:
        with ThreadPoolExecutor(max_workers=STREAMS) as pool:
            running = [pool.submit(stream, n) for n in range(STREAMS)]
            for _ in range(STREAMS):  # every stream has its first chunk
                assert started.acquire(timeout=90), [f.exception() for f in running if f.done()]
            signalled = time.monotonic()
            server.send_signal(stop)
            if stop == signal.SIGTERM:
                wait_for(lambda: refused(base), "the server to stop accepting connections", 10)
            else:  # the reloaded server goes on answering
                assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
            assert time.monotonic() - signalled < 5 and not any(f.done() for f in running)
            answers = [future.result(timeout=120) for future in running]
        if stop == signal.SIGTERM:
            assert server.wait(timeout=60) == 0
        ids = {header for header, _, _ in answers}
        wait_for(lambda: len(logged_ok(tmp_path, ids)) == STREAMS, "every stream in the request log", 60)
    finally:
        sdk.close()
        if server.poll() is None:
            server.kill()
    whole = "".join(word_pieces(slow_upstream.canned.text))
    assert [text for _, _, text in answers] == [whole] * STREAMS  # none cut
    assert len(ids) == STREAMS and all(header == block for header, block, _ in answers)
    print(f"\n{STREAMS} streams, {stop.name} after the first chunk: all complete and all "
          f"{len(logged_ok(tmp_path, ids))} logged {time.monotonic() - signalled:.1f} s after the signal")


def logged_ok(folder, ids: set[str]) -> set[str]:
    """Which of ``ids`` the request-log table holds, with status ok (a SIGTERMed server has exited:
    nothing drains the journal after it)."""
    with sqlite3.connect(folder / "aqta.db") as db:
        rows = db.execute("SELECT request_id FROM request_log WHERE status = 'ok'").fetchall()
    return ids & {request_id for (request_id,) in rows}


def refused(base: str) -> bool:
    try:
        requests.get(f"{base}/healthz", timeout=2)
    except requests.ConnectionError:
        return True
    return False
