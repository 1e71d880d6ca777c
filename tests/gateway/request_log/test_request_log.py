"""The request log loses nothing: every answer a client got is logged exactly once.

Through the gateway with the openai SDK, with real Redis and in embedded mode
(the journal), across drains that die mid-batch, restarts and Redis outages.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openai
import peewee
import pytest
import redis

import storage.requests as requests_repo
from app.gateway.request_log.codec import STARTED, encode
from app.gateway.request_log.drain import GROUP, drain_all, store
from app.gateway.request_log.sink import RedisSink, request_log
from app.handoff.drain import StreamDrain, drain_journal, drain_stream
from app.handoff.journal import Journal
from storage.models import database_proxy
from storage.records import RequestRecord
from tests.fakes.silent_database import SilentDatabase
from tests.gateway.conftest import _fake_servers, fakes, gateway_settings, make_gateway  # noqa: F401
from tests.support import redis_env, wait_for

PLACES = ["Cork", "Galway", "Sligo", "Kerry", "Clare", "Mayo"]  # distinct words: no loop is seen


@pytest.fixture
def stream(redis_tag):
    """A stream of this test's own, so no other drain sharing the Redis server takes its entries."""
    return f"{redis_tag}:request-log"


@pytest.fixture(params=["embedded", "redis"])
def mode(request) -> str:
    return request.param


@pytest.fixture
def log_settings(mode, request, tmp_path) -> dict:
    """Settings for a gateway whose request log is this test's alone."""
    changes = {"request_journal_dir": str(tmp_path / "journal")}
    if mode == "redis":
        changes.update(redis_url=request.getfixturevalue("redis_url"),
                       request_log_stream=request.getfixturevalue("stream"))
    return changes


def drain(app) -> int:
    with app.app_context():
        return drain_all(wait_seconds=10)


def logged(app, user_id: str) -> list[RequestRecord]:
    with app.app_context():
        return requests_repo.list_for_user(user_id)


def record(user_id: str, number: int, cost: str = "0.00001000") -> RequestRecord:
    return RequestRecord(
        request_id=f"req_{uuid.uuid4().hex}", user_id=user_id, key_id="key_test", model="mock-1",
        provider="mock", status="ok", error_code=None, prompt_tokens=number, completion_tokens=2,
        cost_eur=Decimal(cost), saved_eur=Decimal("0"), cached=False, loop_detected=False,
        latency_ms=5, ttft_ms=None, created_at=datetime.now(UTC))


def ask_mixed(client, rounds: int) -> dict[str, Decimal]:
    """Plain, streamed, cached and refused requests: each answer's request id and cost."""
    answered: dict[str, Decimal] = {}
    for number in range(rounds):
        def ask(topic: str, place: str = PLACES[number], **options):
            return client.chat.completions.create(messages=[
                {"role": "user", "content": f"Tell me about the {topic} of {place}."}], **options)

        blocks = [ask("rivers", model="mock-1").model_extra["aqta"],
                  ask("bridges", model="mock-1", temperature=0).model_extra["aqta"],
                  ask("bridges", model="mock-1", temperature=0).model_extra["aqta"],  # a cache hit
                  list(ask("lakes", model="gpt-4o", stream=True))[-1].model_extra["aqta"]]
        answered.update((block["request_id"], Decimal(str(block["cost_eur"]))) for block in blocks)
        with pytest.raises(openai.NotFoundError) as refused:
            ask("hills", model="no-such-model")
        answered[refused.value.response.headers["x-request-id"]] = Decimal(0)
    return answered


def test_every_answer_is_logged_exactly_once(make_gateway, make_account, log_settings):  # noqa: F811
    gateway = make_gateway(**log_settings)
    account = make_account(tier="pro")
    answered = ask_mixed(gateway.client(account.key), rounds=4)
    assert len(answered) == 20

    drain(gateway.app)  # every record was kept before its answer left: one drain finds them all
    rows = logged(gateway.app, account.user.id)
    assert sorted(row.request_id for row in rows) == sorted(answered)
    assert sum(row.cost_eur for row in rows) == sum(answered.values()) > 0
    assert {row.status for row in rows} == {"ok", "cached", "error"}
    assert sum(row.cached for row in rows) == 4
    assert {row.error_code for row in rows if row.status == "error"} == {"model_not_found"}

    assert drain(gateway.app) == 0
    assert len(logged(gateway.app, account.user.id)) == 20


def test_the_embedded_worker_drains_on_its_own(make_gateway, make_account):  # noqa: F811
    gateway = make_gateway(run_embedded_worker=True)
    account = make_account(tier="pro")
    answered = ask_mixed(gateway.client(account.key), rounds=2)
    deadline = time.monotonic() + 30
    while len(logged(gateway.app, account.user.id)) < len(answered) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(row.request_id for row in logged(gateway.app, account.user.id)) == sorted(answered)


def test_inserting_a_batch_twice_adds_nothing(app):
    records = [record("usr_twice", number) for number in range(30)]
    with app.app_context():
        assert requests_repo.insert_batch(records[:20]) == 20
        assert requests_repo.insert_batch(records + records[:5]) == 10
        assert requests_repo.count_for_user("usr_twice") == 30
        assert requests_repo.cost_for_user("usr_twice") == Decimal("0.00030000")
        assert requests_repo.get(records[7].request_id) == records[7]


def test_a_drain_killed_before_acking_loses_nothing(make_app, redis_url, stream, tmp_path):
    app = make_app(redis_url=redis_url, request_log_stream=stream,
                   request_journal_dir=str(tmp_path / "journal"))
    client = redis.Redis.from_url(redis_url)
    with app.app_context():
        for number in range(120):
            request_log().append(record("usr_killed", number))
        # A worker reads a batch, inserts part of it, and dies before acknowledging anything.
        dead = StreamDrain(client, stream, GROUP, store, consumer="dead-worker", batch_size=100)
        dead.ensure_group()
        taken = dead.take()
        assert len(taken) == 100
        requests_repo.insert_batch([record_of(fields) for _, fields in taken[:40]])

        # A live worker reads the rest at once, and claims the dead one's entries once idle.
        late = StreamDrain(client, stream, GROUP, store, consumer="live-worker", claim_idle_ms=60_000)
        assert late.run_once() == 20
        assert requests_repo.count_for_user("usr_killed") == 60
        live = StreamDrain(client, stream, GROUP, store, consumer="live-worker", claim_idle_ms=200)
        deadline = time.monotonic() + 10
        while requests_repo.count_for_user("usr_killed") < 120 and time.monotonic() < deadline:
            live.run_once()
            time.sleep(0.05)
        assert requests_repo.count_for_user("usr_killed") == 120
    assert client.xlen(stream) == 0
    assert client.xpending(stream, "aqta-request-log")["pending"] == 0


def record_of(fields: dict) -> RequestRecord:
    from app.gateway.request_log.codec import decode

    return decode(fields[b"r"])


JOURNAL_WRITER = """
import os, signal, sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from app import create_app
from app.gateway.request_log.sink import request_log
from storage.records import RequestRecord

app = create_app()
with app.app_context():
    for number in range(int(sys.argv[1])):
        request_log().append(RequestRecord(
            f"req_restart_{number}", "usr_restart", "key_x", "mock-1", "mock", "ok", None, number, 1,
            Decimal("0.00000250"), Decimal("0"), False, False, 3, None, datetime.now(UTC)))
print("appended", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no clean shutdown: nothing is flushed or closed
"""


def test_the_journal_survives_a_killed_process_and_drains_exactly_once(make_app, settings, tmp_path):
    journal = tmp_path / "journal"
    env = {**os.environ, "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key,
           "REQUEST_JOURNAL_DIR": str(journal), "REQUEST_JOURNAL_SEGMENT_BYTES": "20000",
           "EMBEDDED_WORKER": "false"}  # only the restarted process drains
    env.pop("REDIS_URL", None)
    killed = subprocess.run([sys.executable, "-c", JOURNAL_WRITER, "300"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL and "appended" in killed.stdout, killed.stderr
    assert len(list(journal.glob("*.jsonl"))) > 1  # rotated by size

    app = make_app(request_journal_dir=str(journal))  # the restarted process
    with app.app_context():
        # Part of a batch was inserted before a crash that lost the offset: re-inserted, ignored.
        assert drain_journal(journal, store, batch_size=50) == 300
        assert drain_journal(journal, store) == 0
        assert requests_repo.count_for_user("usr_restart") == 300
        assert requests_repo.cost_for_user("usr_restart") == Decimal("0.00075000")
    assert not list(journal.glob("*.jsonl"))  # finished segments are removed once drained


def test_a_crash_between_insert_and_offset_write_re_inserts_nothing(make_app, tmp_path):
    app = make_app(request_journal_dir=str(tmp_path / "journal"))
    records = [record("usr_offset", number) for number in range(50)]
    with app.app_context():
        for item in records:
            request_log().append(item)
        requests_repo.insert_batch(records[:30])  # inserted; the offset was never written
        assert drain_all(wait_seconds=10) == 50
        assert requests_repo.count_for_user("usr_offset") == 50
        request_log().append(record("usr_offset", 50))  # the live segment keeps its offset
        assert drain_all(wait_seconds=10) == 1
        assert requests_repo.count_for_user("usr_offset") == 51


def test_a_record_the_table_refuses_is_set_aside_not_retried_for_ever(make_app, tmp_path):
    journal = tmp_path / "journal"
    app = make_app(request_journal_dir=str(journal))
    with app.app_context():
        request_log().append(record("usr_bad", 1))
        request_log().append(record("usr_bad", 2, cost="0.000000001"))  # finer than 1e-8 EUR
        request_log().append(record("usr_bad", 3))
        assert drain_all(wait_seconds=10) == 3
        assert requests_repo.count_for_user("usr_bad") == 2
        assert drain_all(wait_seconds=10) == 0
    assert "0.000000001" in (journal / "rejected.log").read_text()


def test_a_batch_keeps_its_good_records_and_hands_over_the_bad_ones(app):
    good = [record("usr_store", number) for number in range(3)]
    start = replace(record("usr_store", 3), status=STARTED)
    too_fine = encode(record("usr_store", 4, cost="0.000000001"))
    rejected: list[tuple[bytes, str]] = []

    def reject(data: bytes, error: Exception) -> None:
        rejected.append((data, type(error).__name__))

    with app.app_context():
        assert store([encode(item) for item in good[:2]], reject) == 2
        assert store([b"not json", encode(good[2]), too_fine, encode(start)], reject) == 2  # a final, a start
        assert rejected == [(b"not json", "JSONDecodeError"), (too_fine, "ValueError")]
        assert sorted(r.request_id for r in requests_repo.list_for_user("usr_store")) == sorted(
            r.request_id for r in good)
        assert [r.request_id for r in requests_repo.unfinished_starts(datetime.now(UTC) + timedelta(days=1))
                if r.user_id == "usr_store"] == [start.request_id]


def test_concurrent_appends_from_threads_are_all_kept(make_app, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    app = make_app(request_journal_dir=str(tmp_path / "journal"),
                   request_journal_segment_bytes=50_000)

    def append(number: int) -> None:
        with app.app_context():
            request_log().append(record("usr_threads", number))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(append, range(1000)))
    assert drain(app) == 1000
    assert len(logged(app, "usr_threads")) == 1000


def test_redis_down_falls_back_to_the_journal_then_drains(make_app, private_redis, tmp_path):
    journal = tmp_path / "journal"
    app = make_app(request_journal_dir=str(journal))
    client = redis.Redis.from_url(private_redis.url, socket_timeout=2)
    sink = RedisSink(client, Journal(journal), retry_seconds=0)
    with app.app_context():
        for number in range(40):  # Redis is down: nothing fails, everything is journaled
            sink.append(record("usr_outage", number))
        assert list(journal.glob("*.jsonl"))

        private_redis.start()
        for number in range(40, 60):  # back in Redis; the sink drains its journal itself
            sink.append(record("usr_outage", number))
        deadline = time.monotonic() + 20
        while requests_repo.count_for_user("usr_outage") < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert requests_repo.count_for_user("usr_outage") == 40
        assert drain_stream(sink.client, sink.stream, GROUP, store) == 20
        assert requests_repo.count_for_user("usr_outage") == 60
        assert drain_all(wait_seconds=10) == 0


def test_a_drain_reads_the_journal_while_redis_is_down(make_app, private_redis, tmp_path):
    journal = tmp_path / "journal"
    app = make_app(redis_url=private_redis.url, request_journal_dir=str(journal))
    with app.app_context():
        for number in range(10):
            request_log().append(record("usr_down", number))
        with pytest.raises(redis.ConnectionError):
            drain_all(wait_seconds=10)
        assert requests_repo.count_for_user("usr_down") == 10


def test_drain_stream_stops_when_the_stream_is_empty(make_app, redis_url, stream, tmp_path):
    app = make_app(redis_url=redis_url, request_log_stream=stream,
                   request_journal_dir=str(tmp_path / "journal"))
    client = redis.Redis.from_url(redis_url)
    with app.app_context():
        for number in range(1200):
            request_log().append(record("usr_batches", number))
        assert drain_stream(client, stream, GROUP, store) == 1200
        assert drain_stream(client, stream, GROUP, store) == 0
        assert requests_repo.count_for_user("usr_batches") == 1200


def test_a_journal_line_is_written_before_append_returns(tmp_path):
    journal = Journal(tmp_path / "journal", fsync_seconds=0)
    journal.append(b'{"a": 1}\n')
    (segment,) = (tmp_path / "journal").glob("*.jsonl")
    assert segment.read_bytes() == b'{"a": 1}\n'
    journal.close()


AQTA = str(Path(sys.executable).with_name("aqta"))


def start_worker(env: dict, cwd: Path) -> subprocess.Popen:
    """``aqta worker``: Dramatiq's master, one worker process and the scheduler's process."""
    return subprocess.Popen([AQTA, "worker", "--processes", "1", "--threads", "4"], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the whole ``aqta worker`` (its process group: no clean shutdown anywhere)."""
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass
    worker.wait(timeout=10)


def test_a_worker_killed_mid_way_and_restarted_loses_nothing(
        make_gateway, make_account, settings, redis_url, stream, jobs_namespace, redis_names,  # noqa: F811
        tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    gateway = make_gateway(redis_url=redis_url, request_log_stream=stream, jobs_namespace=jobs_namespace)
    account = make_account(tier="pro")
    # The test's own names throughout: a worker on the default ones would drain a deployment's.
    env = {**os.environ, **redis_env(redis_names), "DATABASE_URL": settings.database_url,
           "REDIS_URL": redis_url, "SECRET_KEY": settings.secret_key, "REQUEST_LOG_STREAM": stream,
           "JOBS_NAMESPACE": jobs_namespace, "REQUEST_JOURNAL_DIR": str(tmp_path / "worker-journal")}
    monitor = redis.Redis.from_url(redis_url)

    def ask(number: int) -> tuple[str, Decimal]:
        client = gateway.client(account.key)
        answer = client.chat.completions.create(model="mock-1", messages=[
            {"role": "user", "content": f"Tell me about {PLACES[number % len(PLACES)]}, please. #{number}"}],
            user=f"end-user-{number}")
        return answer.model_extra["aqta"]["request_id"], Decimal(str(answer.model_extra["aqta"]["cost_eur"]))

    def logged_count() -> int:
        with gateway.app.app_context():
            return requests_repo.count_for_user(account.user.id)

    worker = start_worker(env, tmp_path)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            sending = pool.map(ask, range(400))
            deadline = time.monotonic() + 60
            while logged_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert logged_count() > 0, "the worker drained nothing"
            # Kill it with a batch in flight if we catch one: read, not yet acknowledged.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not _pending(monitor, stream):
                time.sleep(0.001)
            kill_worker(worker)
            answered = dict(sending)
        worker = start_worker(env, tmp_path)
        deadline = time.monotonic() + 90
        while logged_count() < len(answered) and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = logged(gateway.app, account.user.id)
        assert sorted(row.request_id for row in rows) == sorted(answered)
        assert sum(row.cost_eur for row in rows) == sum(answered.values())
    finally:
        kill_worker(worker)
        monitor.close()


def _pending(client: redis.Redis, stream: str) -> int:
    try:
        return client.xpending(stream, "aqta-request-log")["pending"]
    except redis.ResponseError:  # no group yet
        return 0


# -- A database that refuses, and a drain that dies with a batch in hand ------------------


@contextmanager
def table_renamed_away(app):
    """Every insert into the request log fails (the table is gone) until the block ends."""
    with app.app_context():
        database_proxy.execute_sql("ALTER TABLE request_log RENAME TO request_log_away")
    try:
        yield
    finally:
        with app.app_context():
            database_proxy.execute_sql("ALTER TABLE request_log_away RENAME TO request_log")


def held_in_redis(app, stream: str) -> tuple[int, int]:
    """(entries in the stream, entries read but not acknowledged) of the drain's group."""
    client = app.extensions["aqta.redis"]
    return client.xlen(stream), _pending(client, stream)


def drain_until_logged(app, user_id: str, count: int) -> None:
    def landed() -> bool:
        drain(app)
        return len(logged(app, user_id)) >= count

    wait_for(landed, f"{count} records of {user_id} to be logged")


def test_a_batch_the_database_refuses_is_kept_until_it_can_be_inserted(make_app, log_settings, mode):
    app = make_app(**log_settings)
    records = [record("usr_refused", number) for number in range(30)]
    with app.app_context():
        for item in records:
            request_log().append(item)
    with table_renamed_away(app):
        with app.app_context(), pytest.raises(peewee.DatabaseError):
            drain_all(wait_seconds=10)
        if mode == "redis":
            assert held_in_redis(app, log_settings["request_log_stream"]) == (30, 30)
    # The table is back: the next drains insert everything (a stream entry is retried once
    # it has been idle for the claim time), each record once.
    drain_until_logged(app, "usr_refused", 30)
    rows = logged(app, "usr_refused")
    assert sorted(row.request_id for row in rows) == sorted(r.request_id for r in records)
    assert drain(app) == 0
    if mode == "redis":
        assert held_in_redis(app, log_settings["request_log_stream"]) == (0, 0)


SUBPROCESS_DEADLINE_SECONDS = 120  # a fresh interpreter imports the app: slow on a busy machine
DRAIN_ONCE = """
from app import create_app
from app.gateway.request_log.drain import drain_all

with create_app().app_context():
    drain_all(wait_seconds=10)  # its insert never returns: the test kills this process there
"""


def test_a_drain_killed_between_reading_and_acknowledging_loses_nothing(
        make_app, settings, log_settings, mode, redis_names, tmp_path):
    app = make_app(**log_settings)
    records = [record("usr_drain_killed", number) for number in range(30)]
    with app.app_context():
        for item in records:
            request_log().append(item)
    silent = SilentDatabase().start()
    env = {**os.environ, "DATABASE_URL": silent.url, "SECRET_KEY": settings.secret_key,
           "REQUEST_JOURNAL_DIR": log_settings["request_journal_dir"], "EMBEDDED_WORKER": "false"}
    env.pop("REDIS_URL", None)
    if mode == "redis":
        env.update(redis_env(redis_names))
        env.update(REDIS_URL=log_settings["redis_url"], REQUEST_LOG_STREAM=log_settings["request_log_stream"])
    drainer = subprocess.Popen([sys.executable, "-c", DRAIN_ONCE], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # It has read its batch and waits on its insert: kill it there, with no clean shutdown.
        wait_for(lambda: silent.connected.is_set() or drainer.poll() is not None, "the drain's insert",
                 SUBPROCESS_DEADLINE_SECONDS)
        assert drainer.poll() is None, drainer.stderr.read().decode()
        drainer.kill()
        assert drainer.wait(timeout=10) == -signal.SIGKILL
    finally:
        if drainer.poll() is None:
            drainer.kill()
            drainer.wait(timeout=10)
        drainer.stderr.close()
        silent.stop()
    if mode == "redis":
        assert held_in_redis(app, log_settings["request_log_stream"]) == (30, 30)
    # Another drain takes the dead one's batch over (once it has been idle for the claim time).
    drain_until_logged(app, "usr_drain_killed", 30)
    rows = logged(app, "usr_drain_killed")
    assert sorted(row.request_id for row in rows) == sorted(r.request_id for r in records)
    assert sum(row.cost_eur for row in rows) == Decimal("0.00030000")
    assert drain(app) == 0
    if mode == "redis":
        assert held_in_redis(app, log_settings["request_log_stream"]) == (0, 0)
