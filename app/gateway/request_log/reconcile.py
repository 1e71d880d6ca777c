"""Streams whose process died mid-answer, closed in the request log with an estimate.

A stream hands off a start record before its first byte leaves (``Attempt.start``):
the record it would leave if it stopped there, with the prompt's estimated
tokens and cost. Its final record replaces it when the stream ends, whichever
way. If the process serving it is killed (SIGKILL, OOM, a lost machine), no final
record comes: once a start is ``REQUEST_RECONCILE_SECONDS`` old with no final
record, it is closed as the stream's client saw it, disconnected
(``client_disconnected``, error code ``worker_lost``), at the estimated cost. If
the process was only slow and its own record comes later, that record replaces
the estimate (``storage.requests.insert_batch``).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import storage.requests as requests_repo
from storage.ids import utcnow
from storage.records import RequestRecord

log = logging.getLogger(__name__)
BATCH = 1000  # starts closed per query


def interrupted(start: RequestRecord) -> RequestRecord:
    """The record of a stream that ended with its process: as a client disconnect, estimated."""
    return replace(start, status="client_disconnected", error_code=requests_repo.RECONCILED_ERROR)


def reconcile(grace_seconds: float) -> int:
    """Close the streams started over ``grace_seconds`` ago that never logged an end."""
    before = utcnow() - timedelta(seconds=grace_seconds)
    closed = 0
    while True:
        starts = requests_repo.unfinished_starts(before, BATCH)
        if starts:
            requests_repo.insert_batch([interrupted(start) for start in starts])
            closed += len(starts)
        if len(starts) < BATCH:
            break
    requests_repo.forget_starts(before)
    if closed:
        log.warning("request log: %d stream(s) whose process died closed with an estimate", closed)
    return closed
