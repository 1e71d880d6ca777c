"""The hand-off drains, on their own: a journal folder and a Redis Stream into a store of the test's.

The store here is the caller's part of the contract (a callable that keeps a batch and
hands bad records to ``reject``); it notes what it was given, as a table would keep it.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time

import orjson
import pytest

from app.handoff.drain import (
    BATCH_SIZE,
    StreamDrain,
    drain_journal,
    drain_stream,
    in_flight,
    pending_bytes,
    process_consumer_name,
)
from app.handoff.journal import Journal
from tests.handoff.held import held_by_a_slow_drain, until_a_second_drain_tries_the_folder

GROUP = "aqta-test-drain"


class Table:
    """A store: keeps each batch it is given; a record starting with ``bad`` is rejected."""

    def __init__(self):
        self.batches: list[list[bytes]] = []

    @property
    def rows(self) -> list[bytes]:
        return [row for batch in self.batches for row in batch]

    def __call__(self, raw: list[bytes], reject) -> int:
        good = [data for data in raw if not data.startswith(b"bad")]
        for data in raw:
            if data.startswith(b"bad"):
                reject(data, ValueError("a bad record"))
        self.batches.append(good)
        return len(good)


def finished_segment(directory, *lines: bytes) -> None:
    """A segment whose writer has gone (closed), holding ``lines`` as written."""
    journal = Journal(directory)
    for line in lines:
        journal.append(line)
    journal.close()


def test_a_journal_is_drained_in_batches_of_at_most_the_batch_size(tmp_path):
    finished_segment(tmp_path, *(f"record {number}\n".encode() for number in range(7)))
    table = Table()
    assert drain_journal(tmp_path, table, batch_size=3) == 7
    assert [len(batch) for batch in table.batches] == [3, 3, 1]
    assert table.rows == [f"record {number}".encode() for number in range(7)]
    assert not list(tmp_path.glob("*.jsonl"))


def test_a_line_still_being_written_waits_for_its_end(tmp_path):
    journal = Journal(tmp_path)
    journal.append(b"first\n")
    (segment,) = tmp_path.glob("*.jsonl")
    with open(segment, "ab") as writer:  # the live writer, half-way through a line
        writer.write(b"\n")  # a blank line is no record
        writer.write(b"sec")
        writer.flush()
        table = Table()
        assert drain_journal(tmp_path, table) == 1
        assert pending_bytes(tmp_path) == 3
        writer.write(b"ond\n")
        writer.flush()
        assert drain_journal(tmp_path, table) == 1
    assert table.rows == [b"first", b"second"]
    assert pending_bytes(tmp_path) == 0
    assert segment.exists()  # its writer still has it open
    journal.close()
    assert drain_journal(tmp_path, table) == 0
    assert not segment.exists()


def test_a_dead_writers_unfinished_line_is_dropped_with_its_segment(tmp_path, caplog):
    finished_segment(tmp_path, b"whole\n", b"half")  # its append raised: no client got that answer
    finished_segment(tmp_path / "only-half", b"half")
    (segment,) = tmp_path.glob("*.jsonl")
    table = Table()
    assert drain_journal(tmp_path, table) == 1
    assert drain_journal(tmp_path / "only-half", table) == 0
    assert table.rows == [b"whole"]
    assert not list(tmp_path.glob("*.jsonl")) and not list((tmp_path / "only-half").glob("*.jsonl"))
    assert f"{tmp_path}: 4 unfinished byte(s) at the end of {segment.name} ignored" in caplog.messages
    assert drain_journal(tmp_path, table) == 0


def test_a_record_the_store_refuses_is_set_aside_in_the_folder(tmp_path, caplog):
    finished_segment(tmp_path, b"good\n", b"bad \xff\n", b"bad too\n")
    table = Table()
    assert drain_journal(tmp_path, table) == 3
    assert table.rows == [b"good"]
    rejected = [orjson.loads(line) for line in (tmp_path / "rejected.log").read_bytes().splitlines()]
    assert rejected == [{"error": "a bad record", "r": "bad \ufffd"},
                        {"error": "a bad record", "r": "bad too"}]
    assert f"{tmp_path}: record set aside in rejected.log: a bad record: b'bad too'" in caplog.messages


def test_pending_bytes_counts_what_no_drain_has_read(tmp_path):
    assert pending_bytes(tmp_path / "none") == 0
    first, second = Journal(tmp_path), Journal(tmp_path)
    first.append(b"12345\n")
    second.append(b"123\n")
    assert pending_bytes(tmp_path) == 10
    assert drain_journal(tmp_path, Table()) == 2
    first.append(b"1234567\n")
    assert pending_bytes(tmp_path) == 8
    first.close()
    second.close()


def test_a_missing_folder_has_nothing_to_drain(tmp_path):
    assert drain_journal(tmp_path / "none", Table()) == 0
    assert not (tmp_path / "none").exists()


def test_a_dead_writers_unnamed_segment_is_removed_and_a_live_ones_kept(tmp_path):
    (tmp_path / "dead.tmp").write_bytes(b"")
    live = os.open(tmp_path / "live.tmp", os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(live, fcntl.LOCK_EX)  # a writer between creating its segment and naming it
    try:
        assert drain_journal(tmp_path, Table()) == 0
        assert sorted(path.name for path in tmp_path.glob("*.tmp")) == ["live.tmp"]
    finally:
        os.close(live)


def test_one_drain_works_on_a_folder_at_a_time_and_another_may_wait_for_it(tmp_path):
    finished_segment(tmp_path, b"first\n")
    first_table, second_table = Table(), Table()
    waited: list[int] = []
    with held_by_a_slow_drain(tmp_path, first_table):
        finished_segment(tmp_path, b"second\n")  # after the first drain listed the folder
        assert drain_journal(tmp_path, second_table) == 0  # the folder is taken: no wait
        second = threading.Thread(target=lambda: waited.append(drain_journal(tmp_path, second_table,
                                                                             wait_seconds=30)))
        second.start()
        until_a_second_drain_tries_the_folder(tmp_path, second)
    second.join(30)
    assert (first_table.rows, second_table.rows, waited) == ([b"first"], [b"second"], [1])


# -- The stream ----------------------------------------------------------------------------


@pytest.fixture
def stream(redis_tag):
    return f"{redis_tag}:handoff"


def add(redis_client, stream: str, *records: bytes) -> None:
    with redis_client.pipeline(transaction=False) as pipe:
        for data in records:
            pipe.xadd(stream, {"r": data})
        pipe.execute()


def test_a_drain_makes_its_group_when_there_is_none(redis_client, stream):
    add(redis_client, stream, b"one", b"two")
    table = Table()
    assert StreamDrain(redis_client, stream, GROUP, table).run_once() == 2
    assert table.rows == [b"one", b"two"]
    assert redis_client.xlen(stream) == 0


def test_a_batch_is_a_dead_consumers_entries_then_new_ones_up_to_the_batch_size(redis_client, stream):
    add(redis_client, stream, *(f"old {number}".encode() for number in range(5)))
    dead = StreamDrain(redis_client, stream, GROUP, Table(), consumer="dead", batch_size=5)
    dead.ensure_group()
    assert len(dead.take()) == 5  # read, never acknowledged
    add(redis_client, stream, *(f"new {number}".encode() for number in range(5)))
    assert in_flight(redis_client, stream, GROUP) == 5
    table = Table()
    live = StreamDrain(redis_client, stream, GROUP, table, consumer="live", batch_size=4, claim_idle_ms=0)
    assert [live.run_once() for _ in range(4)] == [4, 4, 2, 0]
    assert table.batches == [[b"old 0", b"old 1", b"old 2", b"old 3"],
                             [b"old 4", b"new 0", b"new 1", b"new 2"], [b"new 3", b"new 4"]]
    assert in_flight(redis_client, stream, GROUP) == 0
    assert in_flight(redis_client, f"{stream}:none", GROUP) == 0


def test_a_process_has_one_consumer_name_and_a_forked_child_another(redis_client):
    name = process_consumer_name()
    assert name == process_consumer_name()
    assert name.endswith(f"-{os.getpid()}")
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # never return into pytest
        try:
            os.write(writing, f"{os.getpid()} {process_consumer_name()}".encode())
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    os.close(writing)
    with os.fdopen(reading, "rb") as report:
        pid, child_name = report.read().decode().split(" ")
    assert child_name.endswith(f"-{pid}") and child_name != name


def test_a_record_the_store_refuses_is_set_aside_in_the_rejected_stream(redis_client, stream, caplog):
    add(redis_client, stream, b"good", b"bad one")
    table = Table()
    assert drain_stream(redis_client, stream, GROUP, table) == 2
    assert table.rows == [b"good"]
    assert [fields for _, fields in redis_client.xrange(f"{stream}:rejected")] == [
        {b"r": b"bad one", b"error": b"a bad record"}]
    assert f"{stream}: record set aside in {stream}:rejected: a bad record: b'bad one'" in caplog.messages


def test_a_drain_takes_batches_until_the_stream_is_empty_or_its_time_is_spent(redis_client, stream):
    add(redis_client, stream, *(f"record {number}".encode() for number in range(BATCH_SIZE + 1)))
    table = Table()
    assert drain_stream(redis_client, stream, GROUP, table, budget_seconds=0) == BATCH_SIZE  # one batch
    add(redis_client, stream, *(f"late {number}".encode() for number in range(BATCH_SIZE)))
    assert drain_stream(redis_client, stream, GROUP, table) == BATCH_SIZE + 1  # a full batch, then the rest
    assert [len(batch) for batch in table.batches] == [BATCH_SIZE, BATCH_SIZE, 1]
    assert drain_stream(redis_client, stream, GROUP, table) == 0


def test_a_consumer_that_holds_nothing_and_has_long_been_idle_is_forgotten(redis_client, stream):
    add(redis_client, stream, b"one", b"two")
    StreamDrain(redis_client, stream, GROUP, Table()).ensure_group()
    StreamDrain(redis_client, stream, GROUP, Table(), consumer="idle", batch_size=1).run_once()
    StreamDrain(redis_client, stream, GROUP, Table(), consumer="busy", batch_size=1).take()
    time.sleep(0.2)  # both idle for longer than the limit below
    StreamDrain(redis_client, stream, GROUP, Table(), consumer_idle_ms=100).forget_dead_consumers()
    assert [consumer["name"] for consumer in redis_client.xinfo_consumers(stream, GROUP)] == [b"busy"]


def test_the_offset_of_a_segment_removed_before_its_offset_was_forgotten_is_forgotten(tmp_path):
    finished_segment(tmp_path, b"record\n")
    # A drain that removed this segment and died before it saved the offsets without it.
    (tmp_path / "offsets.json").write_bytes(b'{"20260101T000000000000-1-00000000.jsonl": 7}')
    assert drain_journal(tmp_path, Table()) == 1
    assert orjson.loads((tmp_path / "offsets.json").read_bytes()) == {}
