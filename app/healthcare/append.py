"""Leaves appended off the hot path: audit events and amendments, written where they happen.

A receipt rides on its request's hand-off (``receipts.prepare``); an audit event or an
amendment is born in a web request, a worker or the CLI, which already talk to the
database, so it is stored as a pending log entry at once and the sequencer numbers it
with the rest. ``also`` runs in the same transaction, for a caller's own index row: the
leaf and its index are kept together or not at all.
"""
from __future__ import annotations

from collections.abc import Callable

import storage.transparency_log as log_repo
from app.healthcare.leaves import RECEIPT, LeafError, leaf_bytes
from app.healthcare.merkle import leaf_hash
from storage.transparency_log import NewEntry


def append(leaf: dict, also: Callable[[], None] | None = None) -> NewEntry:
    """Store ``leaf`` (not a receipt) as pending; idempotent on its id."""
    if leaf.get("leaf_type") == RECEIPT:
        raise LeafError("receipts are handed off with their request (receipts.prepare)")
    data = leaf_bytes(leaf)
    entry = NewEntry(leaf["id"], leaf["leaf_type"], leaf.get("account_id"), data, leaf_hash(data))
    log_repo.add_pending([entry], [], also)
    return entry
