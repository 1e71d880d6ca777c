"""The request log's drain: its records from the Redis Stream and the local journal, into the table.

``app.handoff.drain`` moves the records exactly once; ``store`` inserts a batch,
idempotently (the request id is the primary key), and sets a record the table
refuses aside rather than block its batch for ever. A stream's start record goes
to ``request_starts`` instead, where ``reconcile`` finds the streams whose
process died before their final record.
"""
from __future__ import annotations

from collections.abc import Callable

import peewee
from flask import current_app

import storage.requests as requests_repo
from app.gateway.request_log.codec import STARTED, decode
from app.gateway.request_log.reconcile import reconcile
from app.handoff.drain import DRAIN_BUDGET_SECONDS, drain_handoff

GROUP = "aqta-request-log"
_BAD_RECORD = (ValueError, TypeError, KeyError, ArithmeticError, peewee.IntegrityError, peewee.DataError)


def store(raw: list[bytes], reject: Callable[[bytes, Exception], None]) -> int:
    """Insert the encoded records; hand each one that cannot be stored to ``reject(raw, error)``."""
    decoded = []
    for data in raw:
        try:
            decoded.append((data, decode(data)))
        except _BAD_RECORD as exc:
            reject(data, exc)
    try:
        return _insert([record for _, record in decoded])
    except _BAD_RECORD:
        pass
    inserted = 0
    for data, record in decoded:  # one at a time, to find the bad ones
        try:
            inserted += _insert([record])
        except _BAD_RECORD as exc:
            reject(data, exc)
    return inserted


def _insert(records: list) -> int:
    """Final records into the log, start records into ``request_starts``."""
    starts = [record for record in records if record.status == STARTED]
    if not starts:
        return requests_repo.insert_batch(records)
    finals = [record for record in records if record.status != STARTED]
    return requests_repo.insert_batch(finals) + requests_repo.insert_starts(starts)


def drain_all(budget_seconds: float = DRAIN_BUDGET_SECONDS, wait_seconds: float = 0.0) -> int:
    """Drain the stream (when the app has Redis) and the local journal; return records read.

    Needs an app context: the Redis client and the journal folder are the app's.
    The journal is drained even while Redis is down; the Redis error is raised after.
    Once everything is drained, streams whose process died are closed (``reconcile``).
    """
    settings = current_app.config["AQTA_SETTINGS"]
    total = drain_handoff(current_app.extensions.get("aqta.redis"), settings.request_log_stream, GROUP,
                          settings.request_journal_dir, store, budget_seconds=budget_seconds,
                          wait_seconds=wait_seconds)
    reconcile(settings.request_reconcile_seconds)
    return total
