"""Retention on the append-only log: old leaves lose their content, never their place in the tree.

A leaf past retention keeps its row in ``log_entries`` (id, type, account, hash, index) and
every tree node, so the inclusion and consistency proofs of all other leaves, and the
signed checkpoints, verify as before; its content (``leaf_data``, set to the empty string)
and its index row (``receipts`` or ``audit_events``) are deleted. Only sequenced leaves
expire: a pending one has no place in the tree yet.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from storage.audit_models import AuditEvent
from storage.log_models import LogEntry, Receipt
from storage.models import database_proxy

EXPIRED = ""  # leaf_data of a leaf whose content is gone
CHUNK = 500  # leaves emptied per transaction, so no statement holds locks for long


def forget_content(before: datetime) -> Counter[tuple[str | None, str]]:
    """Empty the sequenced leaves queued before ``before``; how many, by (account, leaf type)."""
    expired: Counter[tuple[str | None, str]] = Counter()
    while True:
        rows = list(LogEntry.select(LogEntry.id, LogEntry.account_id, LogEntry.leaf_type)
                    .where((LogEntry.queued_at < before) & LogEntry.leaf_index.is_null(False)
                           & (LogEntry.leaf_data != EXPIRED))
                    .order_by(LogEntry.queued_at).limit(CHUNK).tuples())
        if not rows:
            return expired
        ids = [row[0] for row in rows]
        with database_proxy.atomic():
            LogEntry.update(leaf_data=EXPIRED).where(LogEntry.id.in_(ids)).execute()
            Receipt.delete().where(Receipt.id.in_(ids)).execute()
            AuditEvent.delete().where(AuditEvent.id.in_(ids)).execute()
        expired.update((account_id, leaf_type) for _, account_id, leaf_type in rows)
