"""The sink's hand-off: riders and advisory commands, the journal while Redis is away, and exit.

Riders and ``Alongside`` commands are the producer's: here they are plain callables that
note what they were given, as a producer's journal or loop store would keep it.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

import redis

import storage.requests as requests_repo
from app.gateway.request_log.codec import decode, encode
from app.gateway.request_log.drain import drain_all, store
from app.gateway.request_log.sink import JournalSink, RedisSink, request_log
from app.handoff.alongside import Alongside
from app.handoff.drain import BATCH_SIZE
from app.handoff.journal import Journal
from app.handoff.rider import Rider
from tests.gateway.request_log.test_request_log import record, table_renamed_away
from tests.handoff.held import held_by_a_slow_drain, until_a_second_drain_tries_the_folder
from tests.support import Clock, wait_for

CHAT = "/v1/chat/completions"


class Kept:
    """What a producer's fallbacks were handed: rider data, and advisory commands run alone."""

    def __init__(self):
        self.riders: list[bytes] = []
        self.alone: list[str] = []

    def rider(self, stream: str, data: bytes) -> Rider:
        return Rider(stream, data, self.riders.append)

    def command(self, name: str, *command) -> Alongside:
        return Alongside(command, lambda: self.alone.append(name))


def stream_records(client: redis.Redis, stream: str) -> list[bytes]:
    return [fields[b"r"] for _, fields in client.xrange(stream)]


def journaled(directory) -> list[bytes]:
    return [line for path in sorted(directory.glob("*.jsonl")) for line in path.read_bytes().splitlines()]


def test_riders_and_commands_go_in_the_records_round_trip_and_what_redis_refuses_is_kept_alone(
        app, redis_client, redis_tag, tmp_path):
    redis_client.set(f"{redis_tag}:not-a-stream", "a string")  # XADD to it fails: WRONGTYPE
    sink = RedisSink(redis_client, Journal(tmp_path / "journal"), stream=f"{redis_tag}:log")
    kept, item = Kept(), record("usr_riders", 1)
    sink.append(item,
                riders=[kept.rider(f"{redis_tag}:receipts", b"receipt"),
                        kept.rider(f"{redis_tag}:not-a-stream", b"lost")],
                alongside=[kept.command("set", "SET", f"{redis_tag}:flag", "1"),
                           kept.command("incr", "INCR", f"{redis_tag}:not-a-stream")])
    assert [decode(data) for data in stream_records(redis_client, f"{redis_tag}:log")] == [item]
    assert stream_records(redis_client, f"{redis_tag}:receipts") == [b"receipt"]
    assert redis_client.get(f"{redis_tag}:flag") == b"1"
    assert kept.riders == [b"lost"]  # refused by Redis, so kept by its producer
    assert kept.alone == ["incr"]  # Redis answered it with an error, so it ran alone
    assert not journaled(tmp_path / "journal")

    sink.append(record("usr_riders", 2), riders=[kept.rider(f"{redis_tag}:receipts", b"second")])
    sink.append(record("usr_riders", 3), alongside=[kept.command("set", "SET", f"{redis_tag}:flag", "2")])
    assert stream_records(redis_client, f"{redis_tag}:receipts") == [b"receipt", b"second"]
    assert redis_client.get(f"{redis_tag}:flag") == b"2"
    assert len(stream_records(redis_client, f"{redis_tag}:log")) == 3
    assert (kept.riders, kept.alone) == ([b"lost"], ["incr"])


def test_without_redis_riders_and_commands_are_kept_alone_and_the_record_journaled(
        app, private_redis, tmp_path, caplog):
    embedded = JournalSink(Journal(tmp_path / "embedded"))
    down = RedisSink(redis.Redis.from_url(private_redis.url), Journal(tmp_path / "down"), clock=Clock())
    for sink, folder in ((embedded, tmp_path / "embedded"), (down, tmp_path / "down")):
        kept, items = Kept(), [record("usr_alone", 1), record("usr_alone", 2)]
        for number, item in enumerate(items):  # for Redis: once failing, once in its retry wait
            sink.append(item, riders=[kept.rider("receipts", f"receipt {number}".encode())],
                        alongside=[kept.command(f"finish {number}", "SET", "flag", "1")])
        assert kept.riders == [b"receipt 0", b"receipt 1"]
        assert kept.alone == ["finish 0", "finish 1"]
        assert [decode(line) for line in journaled(folder)] == items
    (warning,) = [message for message in caplog.messages if "Redis unreachable" in message]
    assert warning == (f"request log: Redis unreachable, journaling to {tmp_path / 'down'} for 1.0s: "
                       f"Error 111 connecting to 127.0.0.1:{private_redis.port}. Connection refused.")


def test_redis_is_tried_again_once_its_retry_time_has_passed(app, private_redis, tmp_path):
    clock, journal = Clock(), tmp_path / "journal"
    client = redis.Redis.from_url(private_redis.url, socket_timeout=2)
    sink = RedisSink(client, Journal(journal), retry_seconds=1.0, clock=clock)
    sink.append(record("usr_retry", 1))  # Redis is down: journaled
    private_redis.start()
    clock.now += 0.999
    sink.append(record("usr_retry", 2))  # still waiting: journaled without asking Redis
    assert len(journaled(journal)) == 2
    assert not client.exists(sink.stream)
    clock.now += 0.001
    sink.append(record("usr_retry", 3))
    assert client.xlen(sink.stream) == 1
    # Redis answers again: the sink drains what it journaled meanwhile.
    wait_for(lambda: requests_repo.count_for_user("usr_retry") == 2, "the journal to be drained")


@contextmanager
def folder_held_by_a_slow_drain(directory):
    """Another drain holds ``directory`` (it is storing a record) until the block ends."""
    journal = Journal(directory)
    journal.append(encode(record("usr_other_drain", 1)) + b"\n")
    journal.close()
    with held_by_a_slow_drain(directory, store):
        yield


def test_a_sink_drains_its_journal_once_redis_answers_even_while_another_drain_holds_it(
        app, private_redis, tmp_path, caplog):
    caplog.set_level(logging.INFO, "app.gateway.request_log.sink")
    journal = tmp_path / "journal"
    sink = RedisSink(redis.Redis.from_url(private_redis.url, socket_timeout=2), Journal(journal),
                     retry_seconds=0)
    with folder_held_by_a_slow_drain(journal):
        for number in range(3):
            sink.append(record("usr_held", number))  # Redis is down: journaled
        private_redis.start()
        sink.append(record("usr_held", 3))  # its drain waits for the other one's
    wait_for(lambda: requests_repo.count_for_user("usr_held") == 3, "the journal to be drained")
    wait_for(lambda: "request log: 3 journaled record(s) drained after a Redis outage" in caplog.messages,
             "the drain's log line")
    for number in range(4, 7):  # the journal is drained: no append drains it again
        sink.append(record("usr_held", number))
    for thread in threading.enumerate():
        if thread.name == "aqta-request-journal":
            thread.join(30)
    assert sum("drained after a Redis outage" in message for message in caplog.messages) == 1


def test_a_sink_drains_a_journal_left_from_before_its_start(app, redis_url, redis_tag, tmp_path):
    journal = tmp_path / "journal"
    before = Journal(journal)  # the process before a restart, which journaled and died
    before.append(encode(record("usr_leftover", 1)) + b"\n")
    before.close()
    sink = RedisSink(redis.Redis.from_url(redis_url), Journal(journal), stream=f"{redis_tag}:log")
    sink.append(record("usr_leftover", 2))
    wait_for(lambda: requests_repo.count_for_user("usr_leftover") == 1, "the leftover journal to be drained")


def test_a_failed_journal_drain_is_tried_again(app, private_redis, tmp_path, caplog):
    journal = tmp_path / "journal"
    sink = RedisSink(redis.Redis.from_url(private_redis.url, socket_timeout=2), Journal(journal),
                     retry_seconds=0)
    for number in range(3):
        sink.append(record("usr_again", number))  # Redis is down: journaled
    private_redis.start()
    failed = f"request log: draining {journal} failed; trying again later"
    with table_renamed_away(app):
        sink.append(record("usr_again", 3))
        wait_for(lambda: failed in caplog.messages, "the journal drain to fail")

    def drained() -> bool:
        sink.append(record("usr_again", 4))  # each append drains the journal if it is due
        return requests_repo.count_for_user("usr_again") == 3

    wait_for(drained, "the journal to be drained once the table is back")


def test_a_record_that_cannot_be_kept_fails_its_request_with_503(make_app, make_account, tmp_path, caplog):
    (tmp_path / "not-a-folder").write_text("")
    app = make_app(request_journal_dir=str(tmp_path / "not-a-folder"))
    account = make_account(tier="pro")
    answer = app.test_client().post(CHAT, headers=account.headers, json={
        "model": "mock-1", "messages": [{"role": "user", "content": "How green is Kerry?"}]})
    assert answer.status_code == 503
    error = answer.get_json()["error"]
    request_id = answer.headers["x-request-id"]
    assert error["code"] == "request_log_unavailable"
    assert error["message"].startswith("The request log is unavailable ([Errno 17] File exists: ")
    assert error["message"].endswith(f"); request {request_id} was not answered.")
    (line,) = [message for message in caplog.messages if message.startswith("request log: could not keep")]
    assert line.startswith('request log: could not keep record {"request_id":"' + request_id)


def test_an_exiting_process_drains_its_journal_even_while_another_drain_holds_it(make_app, tmp_path, caplog):
    caplog.set_level(logging.INFO, "app.gateway.request_log.sink")
    journal = tmp_path / "journal"
    app = make_app(request_journal_dir=str(journal))
    with folder_held_by_a_slow_drain(journal):
        with app.app_context():
            for number in range(3):
                request_log().append(record("usr_exit", number))
        exiting = threading.Thread(target=lambda: [hook() for hook in app.extensions["aqta.at_exit"]])
        exiting.start()  # it waits for the other drain
    exiting.join(30)
    assert not exiting.is_alive()
    with app.app_context():
        assert requests_repo.count_for_user("usr_exit") == 3
    assert not list(journal.glob("*.jsonl"))  # closed, drained and removed
    assert "request log: 3 journaled record(s) drained at exit" in caplog.messages


def test_a_drain_waits_for_a_folder_another_drain_holds_when_asked_to(make_app, tmp_path):
    journal = tmp_path / "journal"
    app = make_app(request_journal_dir=str(journal))
    drained: list[int] = []

    def drain_waiting() -> None:
        with app.app_context():
            drained.append(drain_all(wait_seconds=30))

    with folder_held_by_a_slow_drain(journal):
        with app.app_context():
            for number in range(3):
                request_log().append(record("usr_wait", number))
            assert drain_all() == 0  # the folder is taken, and this drain does not wait
        waiting = threading.Thread(target=drain_waiting)
        waiting.start()
        until_a_second_drain_tries_the_folder(journal, waiting)
    waiting.join(30)
    assert drained == [3]


def test_a_drain_of_the_stream_stops_once_its_time_is_spent(make_app, redis_url, redis_tag):
    app = make_app(redis_url=redis_url, request_log_stream=f"{redis_tag}:log")
    with app.app_context():
        for number in range(BATCH_SIZE + 1):
            request_log().append(record("usr_budget", number))
        assert drain_all(budget_seconds=0) == BATCH_SIZE  # one batch, then its time is spent
        assert drain_all() == 1
        assert requests_repo.count_for_user("usr_budget") == BATCH_SIZE + 1


def test_a_stream_entry_without_a_record_is_set_aside_not_retried(make_app, redis_url, redis_client,
                                                                  redis_tag):
    app = make_app(redis_url=redis_url, request_log_stream=f"{redis_tag}:log")
    redis_client.xadd(f"{redis_tag}:log", {"other": "field"})  # a foreign producer's entry
    with app.app_context():
        request_log().append(record("usr_foreign", 1))
        assert drain_all() == 2
        assert requests_repo.count_for_user("usr_foreign") == 1
    (rejected,) = [fields for _, fields in redis_client.xrange(f"{redis_tag}:log:rejected")]
    assert rejected[b"r"] == b""
    assert redis_client.xlen(f"{redis_tag}:log") == 0
