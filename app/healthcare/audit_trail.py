"""An account's audit trail (healthcare tier): its events, filtered and paged, each a leaf bundle.

Each event comes as the bundle a receipt comes as (``verify.make_bundle``): the event
under ``audit_event``, its leaf index, and an inclusion proof against the latest signed
checkpoint, or ``"status": "pending"`` until the sequencer has numbered it. Each bundle
verifies alone, online or with ``aqta receipts verify``.
"""
from __future__ import annotations

from dataclasses import dataclass

import storage.audit as audit_repo
import storage.transparency_log as log_repo
from app.analytics.cursors import decode_cursor, encode_cursor
from app.healthcare.audit import EVENT_ID_PREFIX
from app.healthcare.service import receipt_object
from app.healthcare.transparency import transparency_log
from app.healthcare.verify import make_bundle
from storage.audit import AuditFilter
from storage.request_history import Position


@dataclass(frozen=True)
class AuditPage:
    data: list[dict]  # bundles, newest event first
    next_cursor: str | None  # None on the last page


def audit_page(account_id: str, where: AuditFilter, cursor: str | None, limit: int) -> AuditPage:
    """One page of the account's events, newest first, keyset-paged on (recorded, id)."""
    after = decode_cursor(cursor, id_prefix=f"{EVENT_ID_PREFIX}_") if cursor else None
    rows = audit_repo.page(account_id, where, after, limit + 1)
    rows, more = rows[:limit], len(rows) > limit
    checkpoint = log_repo.latest_checkpoint()
    size = checkpoint.size if checkpoint else 0
    proven = [row.leaf_index for row in rows if row.leaf_index is not None and row.leaf_index < size]
    proofs = transparency_log().inclusion_many(proven, size) if proven else {}
    data = []
    for row in rows:
        proof = proofs.get(row.leaf_index)
        data.append(make_bundle(receipt_object(row), row.leaf_index, proof,
                                checkpoint.note if proof is not None else None,
                                size if proof is not None else None))
    next_cursor = encode_cursor(Position(rows[-1].recorded, rows[-1].id)) if more else None
    return AuditPage(data, next_cursor)
