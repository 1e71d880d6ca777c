"""An account's leaves in a time range, page by page, each proven against one checkpoint.

Receipt exports write these bundles to a file; compliance reports verify them, receipts
and audit events alike. Only leaves the checkpoint's tree holds are read, so every bundle
carries a proof.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol, TypeVar

import storage.audit as audit_repo
import storage.receipts as receipts_repo
from app.healthcare.service import receipt_object
from app.healthcare.verify import make_bundle
from storage.audit import AuditFilter
from storage.receipts import ReceiptFilter, ReceiptPosition
from storage.request_history import Position
from storage.transparency_log import CheckpointRecord

PAGE_SIZE = 500  # leaves read, and proven with one node query, at a time
# prove(leaf indices, tree size) -> each index's inclusion proof (TransparencyLog.inclusion_many)
Prove = Callable[[list[int], int], dict[int, list[bytes]]]


class StoredLeaf(Protocol):
    id: str
    leaf_data: bytes
    leaf_index: int | None


Row = TypeVar("Row", bound=StoredLeaf)
After = TypeVar("After")


def provable(since: datetime | None, until: datetime | None,
             checkpoint: CheckpointRecord | None) -> ReceiptFilter:
    """The receipts in [since, until) that ``checkpoint``'s tree holds (none without one)."""
    return ReceiptFilter(since=since, until=until, sequenced_only=True,
                         below_index=checkpoint.size if checkpoint else 0)


def _proven(read: Callable[[After | None, int], list[Row]], position: Callable[[Row], After],
            checkpoint: CheckpointRecord | None, prove: Prove, page_size: int) -> Iterator[list[dict]]:
    """Pages of bundles of the rows ``read`` answers after each page's last row's ``position``."""
    if checkpoint is None:
        return
    after = None
    while rows := read(after, page_size):
        proofs = prove([row.leaf_index for row in rows], checkpoint.size)
        yield [make_bundle(receipt_object(row), row.leaf_index, proofs[row.leaf_index],
                           checkpoint.note, checkpoint.size) for row in rows]
        after = position(rows[-1])


def proven_pages(user_id: str, where: ReceiptFilter, checkpoint: CheckpointRecord | None,
                 prove: Prove, page_size: int = PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of bundles, oldest receipt first, for the receipts ``provable`` selected."""
    return _proven(lambda after, n: receipts_repo.page(user_id, where, after, n, newest_first=False),
                   lambda row: ReceiptPosition(row.created_at, row.id), checkpoint, prove, page_size)


def proven_audit_pages(account_id: str, since: datetime, until: datetime,
                       checkpoint: CheckpointRecord | None, prove: Prove,
                       page_size: int = PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of bundles, oldest first, of the account's audit events in [since, until) that
    ``checkpoint``'s tree holds."""
    where = AuditFilter(since=since, until=until, below_index=checkpoint.size if checkpoint else 0)
    return _proven(lambda after, n: audit_repo.page(account_id, where, after, n, newest_first=False),
                   lambda row: Position(row.recorded, row.id), checkpoint, prove, page_size)
