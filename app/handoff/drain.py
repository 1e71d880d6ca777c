"""Drains: hand-off records from a Redis Stream or a journal folder into a ``Store``, exactly once.

Delivery is at least once and the store must be idempotent, so every record lands
exactly once:

- **Stream**: a consumer group. Each run first claims entries another consumer
  read but never acknowledged for ``CLAIM_IDLE_MS`` (a worker killed mid-batch),
  then reads new ones; it stores the batch, and only then ``XACK``s and ``XDEL``s
  it. A crash between store and ack stores the batch again later, which is ignored.
- **Journal**: segments are read from the offset committed in ``offsets.json``
  (replaced atomically after each stored batch); a crash between store and
  offset write stores again, ignored. A segment whose writer is gone (its ``flock``
  is free) is deleted once read to the end. One drain at a time per folder.

A record the store refuses (a bad value) would block its batch for ever; the store
hands it to ``reject``, which logs it and sets it aside (the ``<stream>:rejected``
stream or the folder's ``rejected.log``).
"""
from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import redis

from app.handoff.journal import SEGMENT_SUFFIX

log = logging.getLogger(__name__)
DRAIN_BUDGET_SECONDS = 5.0  # a drain stops taking new stream batches after this long
BATCH_SIZE = 500  # records per store
CLAIM_IDLE_MS = 5_000  # ms an entry stays unacknowledged before another consumer retries it
CONSUMER_IDLE_MS = 3_600_000  # ms after which an empty consumer (a dead worker's) is removed
OFFSETS_FILE = "offsets.json"
LOCK_FILE = "drain.lock"
REJECTED_FILE = "rejected.log"
_consumer_name = ""  # this process's name in the consumer group, made on first use
# A store keeps encoded records in their table, handing each bad one to reject(raw, error).
Store = Callable[[list[bytes], Callable[[bytes, Exception], None]], int]


class StreamDrain:
    """One consumer of the request-log stream's group."""

    def __init__(self, client: redis.Redis, stream: str, group: str, sink: Store,
                 consumer: str | None = None, batch_size: int = BATCH_SIZE,
                 claim_idle_ms: int = CLAIM_IDLE_MS, consumer_idle_ms: int = CONSUMER_IDLE_MS):
        self.client = client
        self.sink = sink
        self.stream = stream
        self.group = group
        self.consumer = consumer or process_consumer_name()
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        self.consumer_idle_ms = consumer_idle_ms

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise

    def take(self) -> list[tuple[bytes, dict]]:
        """Up to a batch of entries: stale ones of dead consumers first, then new ones."""
        _, entries, _ = self.client.xautoclaim(self.stream, self.group, self.consumer,
                                               self.claim_idle_ms, "0-0", count=self.batch_size)
        if len(entries) < self.batch_size:
            reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                           count=self.batch_size - len(entries))
            for _, messages in reply or []:
                entries.extend(messages)
        return [(entry_id, fields) for entry_id, fields in entries if fields]

    def run_once(self) -> int:
        """Drain one batch; return how many entries it held (0: nothing to do)."""
        try:
            entries = self.take()
        except redis.ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                raise
            self.ensure_group()
            entries = self.take()
        if not entries:
            return 0
        self.sink([fields.get(b"r", b"") for _, fields in entries], self.reject)
        ids = [entry_id for entry_id, _ in entries]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, *ids)
            pipe.xdel(self.stream, *ids)
            pipe.execute()
        return len(entries)

    def reject(self, data: bytes, error: Exception) -> None:
        log.error("%s: record set aside in %s:rejected: %s: %r", self.stream, self.stream, error, data)
        self.client.xadd(f"{self.stream}:rejected", {"r": data, "error": str(error)})

    def forget_dead_consumers(self) -> None:
        """Remove consumers that hold nothing and have not been seen for ``consumer_idle_ms``."""
        for consumer in self.client.xinfo_consumers(self.stream, self.group):
            if consumer["pending"] == 0 and consumer["idle"] > self.consumer_idle_ms:
                self.client.xgroup_delconsumer(self.stream, self.group, consumer["name"])


def process_consumer_name() -> str:
    """This process's consumer name: unique per host, process and start (pids are reused)."""
    global _consumer_name
    if not _consumer_name or not _consumer_name.endswith(f"-{os.getpid()}"):
        _consumer_name = f"{socket.gethostname()}-{secrets.token_hex(3)}-{os.getpid()}"
    return _consumer_name


def drain_stream(client: redis.Redis, stream: str, group: str, sink: Store,
                 budget_seconds: float = DRAIN_BUDGET_SECONDS) -> int:
    """Drain batches until the stream is empty or the budget is spent; return entries handled."""
    drain = StreamDrain(client, stream, group, sink)
    drain.ensure_group()
    deadline = time.monotonic() + budget_seconds
    total = 0
    while True:
        handled = drain.run_once()
        total += handled
        if handled < drain.batch_size or time.monotonic() >= deadline:
            break
    drain.forget_dead_consumers()
    return total


def in_flight(client: redis.Redis, stream: str, group: str) -> int:
    """Entries some consumer of ``group`` has read and not yet acknowledged (being stored)."""
    try:
        return client.xpending(stream, group)["pending"]
    except redis.ResponseError:  # no stream or group yet: nothing read
        return 0


@contextmanager
def _flocked(path: Path, wait_seconds: float = 0.0, create: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path`` (yield True), or yield False if it stays taken."""
    fd = os.open(path, (os.O_RDWR | os.O_CREAT if create else os.O_RDONLY) | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)


def _writer_gone(path: Path) -> bool:
    """True when no process holds the segment open for writing (it will never grow again)."""
    try:
        with _flocked(path, create=False) as free:
            return free
    except FileNotFoundError:  # renamed or removed meanwhile
        return False


def _load_offsets(directory: Path) -> dict[str, int]:
    try:
        return orjson.loads((directory / OFFSETS_FILE).read_bytes())
    except FileNotFoundError:
        return {}


def pending_bytes(directory: str | Path) -> int:
    """Bytes of journal records in ``directory`` not yet drained (a gauge of the drain's lag)."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    offsets = _load_offsets(directory)
    total = 0
    for path in directory.glob("*" + SEGMENT_SUFFIX):
        try:
            total += max(0, path.stat().st_size - offsets.get(path.name, 0))
        except FileNotFoundError:  # drained and removed meanwhile
            pass
    return total


def _save_offsets(directory: Path, offsets: dict[str, int]) -> None:
    """Replace the offsets file atomically: write a copy, fsync it, rename it over."""
    temporary = directory / (OFFSETS_FILE + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(orjson.dumps(offsets))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / OFFSETS_FILE)


def _complete_lines(path: Path, offset: int, limit: int) -> tuple[list[bytes], int]:
    """Up to ``limit`` whole lines from ``offset``, and the offset after them."""
    lines = []
    with open(path, "rb") as handle:
        handle.seek(offset)
        while len(lines) < limit:
            line = handle.readline()
            if not line.endswith(b"\n"):  # end of file, or a line still being written
                break
            offset += len(line)
            if line.strip():
                lines.append(line.rstrip(b"\n"))
    return lines, offset


def _reject_to_file(directory: Path) -> Callable[[bytes, Exception], None]:
    def reject(data: bytes, error: Exception) -> None:
        log.error("%s: record set aside in %s: %s: %r", directory, REJECTED_FILE, error, data)
        with open(directory / REJECTED_FILE, "ab") as handle:
            handle.write(orjson.dumps({"error": str(error), "r": data.decode(errors="replace")}) + b"\n")
    return reject


def _drain_segment(path: Path, offsets: dict[str, int], batch_size: int,
                   reject: Callable[[bytes, Exception], None], sink: Store) -> int:
    finished = _writer_gone(path)  # decided before reading, so nothing written after is missed
    offset, total = offsets.get(path.name, 0), 0
    while True:
        lines, end = _complete_lines(path, offset, batch_size)
        if end == offset:
            break
        sink(lines, reject)
        total += len(lines)
        offset = offsets[path.name] = end
        _save_offsets(path.parent, offsets)
    if finished:
        tail = path.stat().st_size - offset
        if tail:  # a short write; its append raised, so no client got that answer
            log.warning("%s: %d unfinished byte(s) at the end of %s ignored", path.parent, tail, path.name)
        path.unlink()
        offsets.pop(path.name, None)
        _save_offsets(path.parent, offsets)
    return total


def drain_journal(directory: str | Path, sink: Store, batch_size: int = BATCH_SIZE,
                  wait_seconds: float = 0.0) -> int:
    """Drain every journal segment in ``directory``; return the records read.

    Only one drain works on a folder at a time; another returns 0 at once, or
    after waiting up to ``wait_seconds`` for the folder.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    with _flocked(directory / LOCK_FILE, wait_seconds) as locked:
        if not locked:
            return 0
        offsets = _load_offsets(directory)
        segments = sorted(directory.glob("*" + SEGMENT_SUFFIX))
        total = sum(_drain_segment(path, offsets, batch_size, _reject_to_file(directory), sink)
                    for path in segments)
        for path in directory.glob("*.tmp"):  # a writer died between creating and naming it
            if path.name != OFFSETS_FILE + ".tmp" and _writer_gone(path):
                path.unlink(missing_ok=True)
        present = {path.name for path in segments if path.exists()}
        if set(offsets) - present:
            _save_offsets(directory, {name: at for name, at in offsets.items() if name in present})
        return total


def drain_handoff(client: redis.Redis | None, stream: str, group: str, journal_dir: str | Path,
                  sink: Store, *, budget_seconds: float = DRAIN_BUDGET_SECONDS,
                  wait_seconds: float = 0.0) -> int:
    """Drain a hand-off's stream (when there is Redis) and its journal; return records read.

    The journal is drained even while Redis is down: the Redis error is raised after it.
    """
    total, failure = 0, None
    if client is not None:
        try:
            total += drain_stream(client, stream, group, sink, budget_seconds)
        except redis.RedisError as exc:
            failure = exc
    total += drain_journal(journal_dir, sink, wait_seconds=wait_seconds)
    if failure is not None:
        raise failure
    return total
