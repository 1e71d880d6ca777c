"""The local journal: one line per record, segments closed by size, one writer per segment."""
from __future__ import annotations

import os
import re
import resource
import signal
import stat
import time
from datetime import UTC, datetime

import pytest

from app.handoff.journal import Journal


def segments(directory) -> list[bytes]:
    """The segments' contents, in the order of their lines (names may tie within a microsecond)."""
    return sorted(path.read_bytes() for path in directory.glob("*.jsonl"))


def lines(count: int) -> list[bytes]:
    return [f"line-{number:04}\n".encode() for number in range(count)]  # 10 bytes each


@pytest.mark.parametrize(("segment_bytes", "per_segment"), [(20, 2), (21, 3), (10, 1)])
def test_a_segment_is_closed_once_it_holds_its_size(tmp_path, segment_bytes, per_segment):
    journal = Journal(tmp_path / "journal", fsync_seconds=0, segment_bytes=segment_bytes)
    written = lines(7)
    for line in written:
        journal.append(line)
    journal.close()
    expected = [b"".join(written[at:at + per_segment]) for at in range(0, 7, per_segment)]
    assert segments(tmp_path / "journal") == sorted(expected)


def test_a_journal_makes_its_folder_and_keeps_its_segments_private(tmp_path):
    folder = tmp_path / "var" / "aqta" / "journal"
    journal = Journal(folder)
    journal.append(b"one\n")
    journal.append(b"two\n")
    journal.close()
    (segment,) = folder.glob("*.jsonl")
    assert segment.read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE(segment.stat().st_mode) == 0o600
    assert not list(folder.glob("*.tmp"))


def test_a_closed_journal_starts_a_new_segment_on_its_next_append(tmp_path):
    journal = Journal(tmp_path / "journal")
    journal.append(b"before\n")
    journal.close()
    journal.close()  # closing twice is harmless
    journal.append(b"after\n")
    journal.close()
    assert segments(tmp_path / "journal") == [b"after\n", b"before\n"]


def test_a_forked_process_writes_a_segment_of_its_own(tmp_path):
    journal = Journal(tmp_path / "journal")
    journal.append(b"parent 1\n")
    child = os.fork()
    if child == 0:  # the child: never return into pytest
        try:
            journal.append(b"child\n")
            journal.close()
        finally:
            os._exit(0)
    assert os.waitpid(child, 0)[1] == 0
    journal.append(b"parent 2\n")
    journal.close()
    assert segments(tmp_path / "journal") == [b"child\n", b"parent 1\nparent 2\n"]


def test_a_short_write_fails_its_append_and_the_next_record_starts_a_new_segment(tmp_path):
    journal = Journal(tmp_path / "journal")
    reading, writing = os.pipe()  # the child's files are limited: it reports through a pipe
    child = os.fork()
    if child == 0:  # the child, whose files may not grow past 15 bytes: never return into pytest
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a short write instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (15, 15))
            written = lines(3)
            journal.append(written[0])
            try:
                journal.append(written[1])  # 5 of its 10 bytes fit
            except OSError as exc:
                os.write(writing, str(exc).encode())
            journal.append(written[2])
            journal.close()
        finally:
            os._exit(0)
    assert os.waitpid(child, 0)[1] == 0
    os.close(writing)
    with os.fdopen(reading, "rb") as report:
        assert report.read() == b"short write to the request journal (5 of 10 bytes)"
    assert segments(tmp_path / "journal") == [b"line-0000\nline-", b"line-0002\n"]


def test_a_segment_is_named_by_its_start_in_utc_and_its_writer(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/St_Johns")  # a local time that is not UTC, half an hour off
    time.tzset()
    try:
        before = datetime.now(UTC)
        first = Journal(tmp_path / "journal", segment_bytes=1)  # one line a segment
        first.append(b"first\n")
        first.append(b"second\n")
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    names = sorted(path.name for path in (tmp_path / "journal").glob("*.jsonl"))
    assert [(tmp_path / "journal" / name).read_bytes() for name in names] == [b"first\n", b"second\n"]
    for name in names:
        stamp, pid, token = name.removesuffix(".jsonl").split("-")
        assert before <= datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC) <= after
        assert pid == str(os.getpid())
        assert re.fullmatch("[0-9a-f]{8}", token)
