"""The request log's hot-path sink: hand a finished request's record off, durably, at once.

``append`` never waits on the database. With Redis it is one ``XADD`` to a Redis
Stream; without Redis (embedded) it writes one line to a local journal file. The
drain (``app.gateway.request_log.drain``, run by ``workers.request_log``) batch-inserts
both into the ``request_log`` table,
idempotently by request id, so every record lands exactly once.

Durability, by mode:

- **Redis**: a record is in Redis when ``append`` returns; it survives any crash of
  web or worker processes, and a Redis crash loses what Redis's own persistence
  loses (``appendfsync everysec``: about a second). If Redis is unreachable the
  record goes to the local journal instead (nothing is lost, the request does not
  fail); Redis is retried after ``REDIS_RETRY_SECONDS``, and once it answers again
  this process drains its journal into the database in the background, as does
  any worker sharing ``REQUEST_JOURNAL_DIR``.
- **Journal**: a record is written with one ``write(2)`` before ``append`` returns,
  so a crash of the process loses nothing. A crash of the *machine* can lose the
  records written since the last ``fsync`` that the drain had not yet committed to
  the database: at most ``REQUEST_JOURNAL_FSYNC_SECONDS`` of them while requests
  keep coming (the fsync rides on the next append; when traffic stops, the last
  records are safe once drained, normally within a second, or once the kernel
  writes them back). ``0`` fsyncs every record, at a cost in latency.

If neither Redis nor the journal can take a record, ``append`` raises
``RequestLogUnavailable`` (503) rather than answer a request it could not log.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import redis
from flask import Flask, current_app

from app.errors import ServiceUnavailable
from app.gateway.request_log.codec import STREAM, encode
from app.gateway.request_log.drain import store
from app.handoff.alongside import Alongside
from app.handoff.drain import drain_journal
from app.handoff.journal import SEGMENT_SUFFIX, Journal
from app.handoff.rider import Rider
from storage.database import close_connection
from storage.records import RequestRecord

log = logging.getLogger(__name__)
REDIS_RETRY_SECONDS = 1.0  # after a Redis failure, records go straight to the journal this long
JOURNAL_LOCK_WAIT_SECONDS = 60.0  # how long a web process waits for another drain of its journal
EXIT_DRAIN_WAIT_SECONDS = 5.0  # how long an exiting process waits for another drain of its journal


class RequestLogUnavailable(ServiceUnavailable):
    code = "request_log_unavailable"


class RequestSink:
    """Where ``append`` puts records; subclasses fill in ``_append``."""

    journal: Journal

    def append(self, record: RequestRecord, riders: Sequence[Rider] = (),
               alongside: Sequence[Alongside] = ()) -> None:
        """Keep ``record`` (and its ``riders``) durably before returning, and run the
        ``alongside`` commands (in the same Redis round trip where there is one).

        Raises ``RequestLogUnavailable`` if the record cannot be kept, or what a rider's
        fallback raises; a rider is kept before its record wherever it can fail alone.
        """
        data = encode(record)
        try:
            self._append(data, riders, alongside)
        except (OSError, redis.RedisError) as exc:
            log.error("request log: could not keep record %s", data.decode())
            raise RequestLogUnavailable(f"The request log is unavailable ({exc}); request "
                                        f"{record.request_id} was not answered.") from exc

    def _append(self, data: bytes, riders: Sequence[Rider], alongside: Sequence[Alongside]) -> None:
        raise NotImplementedError

    def flush(self) -> int:
        """At a process's exit: close (fsync) its journal segment and drain the folder into the
        table, so no record waits for the next start; returns the records drained."""
        self.journal.close()
        return drain_journal(self.journal.directory, store, wait_seconds=EXIT_DRAIN_WAIT_SECONDS)


class JournalSink(RequestSink):
    """Embedded mode: every record is a line in this process's journal."""

    def __init__(self, journal: Journal):
        self.journal = journal

    def _append(self, data: bytes, riders: Sequence[Rider], alongside: Sequence[Alongside]) -> None:
        for command in alongside:
            command.alone()
        for rider in riders:
            rider.fallback(rider.data)
        self.journal.append(data + b"\n")


class RedisSink(RequestSink):
    """One ``XADD`` per record; the journal takes over while Redis is unreachable."""

    def __init__(self, client: redis.Redis, journal: Journal, stream: str = STREAM,
                 retry_seconds: float = REDIS_RETRY_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.journal = journal
        self.stream = stream
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._retry_at = float("-inf")
        self._check_journal = True  # leftovers from an outage, or from before a restart
        self._lock = threading.Lock()

    def _append(self, data: bytes, riders: Sequence[Rider], alongside: Sequence[Alongside]) -> None:
        if self.clock() < self._retry_at:
            for command in alongside:
                command.alone()
            self._keep_in_journal(data, riders)
            return
        try:
            refused = self._xadd(data, riders, alongside)
        except redis.RedisError as exc:
            log.warning("request log: Redis unreachable, journaling to %s for %ss: %s",
                        self.journal.directory, self.retry_seconds, exc)
            self._retry_at = self.clock() + self.retry_seconds
            self._keep_in_journal(data, riders)
            return
        for rider in refused:  # Redis took the record but not this rider
            rider.fallback(rider.data)
        if self._check_journal:
            self._drain_journal_in_background()

    def _keep_in_journal(self, data: bytes, riders: Sequence[Rider]) -> None:
        for rider in riders:
            rider.fallback(rider.data)
        self.journal.append(data + b"\n")
        self._check_journal = True

    def _xadd(self, data: bytes, riders: Sequence[Rider], alongside: Sequence[Alongside]) -> list[Rider]:
        """The ``alongside`` commands, the riders and the record in one round trip; the
        riders Redis refused. An ``alongside`` command Redis did not take is run alone.

        Raises ``RedisError`` when Redis did not take the record.
        """
        if not riders and not alongside:
            self.client.xadd(self.stream, {"r": data})
            return []
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for command in alongside:
                    pipe.execute_command(*command.command)
                for rider in riders:
                    pipe.xadd(rider.stream, {"r": rider.data})
                pipe.xadd(self.stream, {"r": data})
                replies = pipe.execute(raise_on_error=False)
        except redis.RedisError:
            for command in alongside:
                command.alone()
            raise
        for command, reply in zip(alongside, replies, strict=False):
            if isinstance(reply, Exception):
                command.alone()
        *carried, recorded = replies[len(alongside):]
        if isinstance(recorded, Exception):
            raise recorded
        return [rider for rider, result in zip(riders, carried, strict=True) if isinstance(result, Exception)]

    def _drain_journal_in_background(self) -> None:
        with self._lock:
            if not self._check_journal:
                return
            self._check_journal = False
        if any(self.journal.directory.glob("*" + SEGMENT_SUFFIX)):
            threading.Thread(target=self._drain_journal, name="aqta-request-journal", daemon=True).start()

    def _drain_journal(self) -> None:
        try:
            count = drain_journal(self.journal.directory, store, wait_seconds=JOURNAL_LOCK_WAIT_SECONDS)
            log.info("request log: %d journaled record(s) drained after a Redis outage", count)
        except Exception:
            log.exception("request log: draining %s failed; trying again later", self.journal.directory)
            self._check_journal = True
        finally:
            close_connection()


def init_app(app: Flask) -> None:
    """Pick the transport: Redis Streams when the app has a client, else the journal.

    Call after ``app.connections.init_app``. The journal folder is made on first use. At
    exit the process flushes its journal into the table (``aqta.at_exit``, run by gunicorn).
    """
    settings = app.config["AQTA_SETTINGS"]
    journal = Journal(settings.request_journal_dir, settings.request_journal_fsync_seconds,
                      settings.request_journal_segment_bytes)
    client = app.extensions.get("aqta.redis")
    sink = app.extensions["aqta.request_log"] = (
        RedisSink(client, journal, settings.request_log_stream) if client is not None
        else JournalSink(journal))
    app.extensions.setdefault("aqta.at_exit", []).append(lambda: flush_at_exit(app, sink))


def flush_at_exit(app: Flask, sink: RequestSink) -> None:
    """gunicorn's ``worker_exit`` runs this (``app.serving``) once the last request has finished."""
    with app.app_context():
        count = sink.flush()
    if count:
        log.info("request log: %d journaled record(s) drained at exit", count)


def request_log() -> RequestSink:
    return current_app.extensions["aqta.request_log"]
