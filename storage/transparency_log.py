"""The transparency log repository: pending leaves, sequencing, tree nodes, checkpoints, keys.

Sequencing runs in one transaction that first locks the state row (SQLite: an
IMMEDIATE transaction; PostgreSQL and MySQL: ``SELECT … FOR UPDATE``), so any
number of sequencers in any number of processes take turns: each reads the size
they left, numbers the next pending leaves from it and moves it on. The unique
index on ``leaf_index`` is the backstop: a duplicate index cannot be written, and
a crash before the commit leaves nothing behind. Hashing is the caller's
(``grow``), so this module stays free of ``app``.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import peewee
from peewee import Case

from storage.database import is_sqlite, write_transaction
from storage.ids import utcnow
from storage.log_models import LogCheckpoint, LogEntry, LogKey, LogNode, LogState, Receipt
from storage.models import database_proxy

T = TypeVar("T")
Node = tuple[int, int]
NodeLookup = Callable[[Node], bytes]
# grow(size, lookup of existing nodes, new leaf hashes) -> (new nodes, new root)
Grow = Callable[[int, NodeLookup, list[bytes]], tuple[dict[Node, bytes], bytes]]
_STATE_ID = 1
DEADLOCK_RETRIES = 5  # attempts of a transaction the database rolled back to break a deadlock
_ROWS_PER_INSERT = 500
_ROWS_PER_UPDATE = 500  # leaves numbered per UPDATE (one CASE branch each)


@dataclass(frozen=True)
class NewEntry:
    id: str
    leaf_type: str
    account_id: str | None
    leaf_data: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class ReceiptIndex:
    id: str
    user_id: str
    key_id: str
    request_id: str
    model: str
    created_at: datetime


@dataclass(frozen=True)
class EntryRecord:
    id: str
    leaf_type: str
    account_id: str | None
    leaf_data: bytes
    leaf_hash: bytes
    leaf_index: int | None  # None while pending


@dataclass(frozen=True)
class TreeState:
    size: int
    root: bytes


@dataclass(frozen=True)
class CheckpointRecord:
    id: int
    size: int
    root: bytes
    note: str
    key_id: str
    created_at: datetime


@dataclass(frozen=True)
class KeyRecord:
    vkey: str
    private: str | None
    active: bool
    created_at: datetime
    retired_at: datetime | None




def _locked(query: peewee.Query) -> peewee.Query:
    return query if is_sqlite() else query.for_update()


def _entry(row: LogEntry) -> EntryRecord:
    return EntryRecord(row.id, row.leaf_type, row.account_id, row.leaf_data.encode(),
                       bytes.fromhex(row.leaf_hash), row.leaf_index)


# -- hand-off ------------------------------------------------------------------------------------

def add_pending(entries: list[NewEntry], receipts: list[ReceiptIndex],
                also: Callable[[], None] | None = None) -> int:
    """Store handed-off leaves (and their receipts' index rows); ones already there are skipped.

    ``also`` runs inside the same transaction (a caller's own index rows).
    """
    return _retrying(lambda: _add_pending(entries, receipts, also))


def _add_pending(entries: list[NewEntry], receipts: list[ReceiptIndex],
                 also: Callable[[], None] | None) -> int:
    now, added = utcnow(), 0
    with database_proxy.atomic():
        if also is not None:
            also()
        for start in range(0, len(entries), _ROWS_PER_INSERT):
            # A microsecond apart, so leaves are numbered in the order they were handed off.
            rows = [{"id": e.id, "leaf_type": e.leaf_type, "account_id": e.account_id,
                     "leaf_data": e.leaf_data.decode(), "leaf_hash": e.leaf_hash.hex(),
                     "queued_at": now + timedelta(microseconds=start + offset)}
                    for offset, e in enumerate(entries[start:start + _ROWS_PER_INSERT])]
            added += LogEntry.insert_many(rows).on_conflict_ignore().as_rowcount().execute()
        for start in range(0, len(receipts), _ROWS_PER_INSERT):
            rows = [vars(r) for r in receipts[start:start + _ROWS_PER_INSERT]]
            Receipt.insert_many(rows).on_conflict_ignore().execute()
    return added


def _ensure_state() -> None:
    """Create the state row (the empty tree) in its own transaction, never under a lock."""
    if not LogState.select().where(LogState.id == _STATE_ID).exists():
        with database_proxy.atomic():
            (LogState.insert(id=_STATE_ID, size=0, root=hashlib.sha256(b"").hexdigest())
             .on_conflict_ignore().execute())


def _lock_state() -> LogState:
    return _locked(LogState.select().where(LogState.id == _STATE_ID)).get()


# -- sequencing ----------------------------------------------------------------------------------

def _retrying(work: Callable[[], T]) -> T:
    """Run a transaction again when the database broke a deadlock by rolling it back."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return work()
        except peewee.OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == DEADLOCK_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def sequence(limit: int, grow: Grow) -> TreeState | None:
    """Give the next ``limit`` pending leaves the next indices; the new state, or None if none."""
    if not LogEntry.select().where(LogEntry.leaf_index.is_null()).exists():
        return None  # idle: no write lock taken
    _ensure_state()
    return _retrying(lambda: _sequence(limit, grow))


def _sequence(limit: int, grow: Grow) -> TreeState | None:
    with write_transaction():
        state = _lock_state()
        # A plain read (no FOR UPDATE): the state lock already excludes other sequencers, and
        # locking the pending range would make hand-offs' inserts deadlock with us on MySQL.
        pending = list(LogEntry.select(LogEntry.id, LogEntry.leaf_hash)
                       .where(LogEntry.leaf_index.is_null())
                       .order_by(LogEntry.queued_at, LogEntry.id).limit(limit))
        if not pending:
            return None
        size = state.size
        new_nodes, root = grow(size, _node_lookup(), [bytes.fromhex(e.leaf_hash) for e in pending])
        now = utcnow()
        for start in range(0, len(pending), _ROWS_PER_UPDATE):
            chunk = pending[start:start + _ROWS_PER_UPDATE]
            numbering = Case(LogEntry.id, [(e.id, size + start + n) for n, e in enumerate(chunk)])
            updated = (LogEntry.update(leaf_index=numbering, sequenced_at=now)
                       .where(LogEntry.id.in_([e.id for e in chunk])).execute())
            if updated != len(chunk):  # cannot happen under the lock; never commit a gap
                raise RuntimeError(f"sequencing numbered {updated} of {len(chunk)} leaves; rolled back")
        rows = [{"level": level, "idx": idx, "hash": value.hex()}
                for (level, idx), value in sorted(new_nodes.items())]
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            LogNode.insert_many(rows[start:start + _ROWS_PER_INSERT]).execute()
        size += len(pending)
        LogState.update(size=size, root=root.hex()).where(LogState.id == _STATE_ID).execute()
    return TreeState(size, root)


def _node_lookup() -> NodeLookup:
    def lookup(node: Node) -> bytes:
        level, idx = node
        row = LogNode.get_or_none((LogNode.level == level) & (LogNode.idx == idx))
        if row is None:
            raise LookupError(f"the log has no node {node}")
        return bytes.fromhex(row.hash)
    return lookup


def nodes(wanted: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of these perfect subtrees, in one query."""
    by_level: dict[int, set[int]] = {}
    for level, idx in wanted:
        by_level.setdefault(level, set()).add(idx)
    if not by_level:
        return {}
    condition = None
    for level, indices in by_level.items():
        part = (LogNode.level == level) & LogNode.idx.in_(sorted(indices))
        condition = part if condition is None else condition | part
    query = LogNode.select(LogNode.level, LogNode.idx, LogNode.hash).where(condition).tuples()
    return {(level, idx): bytes.fromhex(value) for level, idx, value in query}


def state() -> TreeState | None:
    row = LogState.get_or_none(LogState.id == _STATE_ID)
    return TreeState(row.size, bytes.fromhex(row.root)) if row else None


def entry(entry_id: str) -> EntryRecord | None:
    row = LogEntry.get_or_none(LogEntry.id == entry_id)
    return _entry(row) if row else None


# -- checkpoints ---------------------------------------------------------------------------------

def _checkpoint(row: LogCheckpoint) -> CheckpointRecord:
    return CheckpointRecord(row.id, row.size, bytes.fromhex(row.root), row.note, row.key_id,
                            row.created_at)


def add_checkpoint(size: int, root: bytes, note: str, key_id: str) -> CheckpointRecord:
    row = LogCheckpoint.create(size=size, root=root.hex(), note=note, key_id=key_id, created_at=utcnow())
    return _checkpoint(row)


def latest_checkpoint() -> CheckpointRecord | None:
    row = LogCheckpoint.select().order_by(LogCheckpoint.size.desc(), LogCheckpoint.id.desc()).first()
    return _checkpoint(row) if row else None


@dataclass(frozen=True)
class CheckpointSpan:
    """The first and last checkpoints signed in a time range, and how many there were."""

    first: CheckpointRecord
    last: CheckpointRecord
    count: int


def checkpoints_between(since: datetime, until: datetime) -> CheckpointSpan | None:
    """The checkpoints signed in [since, until), or None if none was."""
    in_range = (LogCheckpoint.created_at >= since) & (LogCheckpoint.created_at < until)
    query = LogCheckpoint.select().where(in_range)
    first = query.order_by(LogCheckpoint.size, LogCheckpoint.id).first()
    if first is None:
        return None
    last = query.order_by(LogCheckpoint.size.desc(), LogCheckpoint.id.desc()).first()
    return CheckpointSpan(_checkpoint(first), _checkpoint(last), query.count())


# -- keys ----------------------------------------------------------------------------------------

def _key(row: LogKey) -> KeyRecord:
    return KeyRecord(row.vkey, row.private, row.active, row.created_at, row.retired_at)


def keys() -> list[KeyRecord]:
    """Every key that ever signed, oldest first."""
    return [_key(row) for row in LogKey.select().order_by(LogKey.created_at, LogKey.vkey)]


def remember_key(vkey: str) -> None:
    """Record a configured key's public half (once)."""
    LogKey.insert(vkey=vkey, private=None, active=False, created_at=utcnow()).on_conflict_ignore().execute()


_ACTIVE_ANY = LogKey.active == True  # noqa: E712 (SQL, not Python)
_ACTIVE = _ACTIVE_ANY & LogKey.private.is_null(False)  # the generated key in use


def active_generated_key() -> KeyRecord | None:
    row = LogKey.select().where(_ACTIVE).first()
    return _key(row) if row else None


def store_generated_key(vkey: str, sealed_private: str, *, retire_others: bool) -> KeyRecord:
    """Keep a generated key as the active one. Without ``retire_others`` it is a no-op
    when another active key exists (two processes generating at once: the first wins)."""
    now = utcnow()
    _ensure_state()
    with write_transaction():
        _lock_state()  # the one lock every writer of the log takes, so two first starts agree
        current = LogKey.select().where(_ACTIVE).first()
        if current is not None and not retire_others:
            return _key(current)
        LogKey.update(active=False, retired_at=now).where(_ACTIVE_ANY).execute()
        LogKey.insert(vkey=vkey, private=sealed_private, active=True, created_at=now).execute()
    return _key(LogKey.get(LogKey.vkey == vkey))
