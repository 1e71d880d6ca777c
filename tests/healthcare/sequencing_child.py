"""Processes for the sequencing concurrency test: producers hand off leaves, sequencers number them."""
from __future__ import annotations

import os
import time
from pathlib import Path

import storage.transparency_log as log_repo
from app.healthcare import merkle
from app.healthcare.leaves import leaf_bytes
from storage.database import bind_database, close_connection
from storage.transparency_log import NewEntry


def leaf(producer: int, number: int) -> NewEntry:
    data = leaf_bytes({"leaf_type": "audit_event", "v": 1, "id": f"aud_{producer}_{number}"})
    return NewEntry(f"aud_{producer}_{number}", "audit_event", None, data, merkle.leaf_hash(data))


def produce(url: str, producer: int, count: int, batch: int) -> None:
    bind_database(url)
    for start in range(0, count, batch):
        entries = [leaf(producer, n) for n in range(start, min(count, start + batch))]
        log_repo.add_pending(entries, [])
        log_repo.add_pending(entries[:1], [])  # a redelivered hand-off: ignored
        close_connection()


def sequence_until(url: str, total: int, batch: int, deadline_seconds: float = 120) -> None:
    bind_database(url)
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        log_repo.sequence(batch, merkle.extend)
        state = log_repo.state()
        close_connection()
        if state is not None and state.size >= total:
            return
        time.sleep(0.005)


def sequence_then_hang(url: str, marker: str) -> None:
    """Start a sequencing transaction and stop inside it, to be killed there."""
    bind_database(url)

    def grow(size, lookup, leaves):
        made = merkle.extend(size, lookup, leaves)
        Path(marker).write_text(str(os.getpid()))
        time.sleep(600)
        return made

    log_repo.sequence(50, grow)
