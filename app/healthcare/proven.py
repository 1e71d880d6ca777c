"""An account's receipts in a time range, page by page, each proven against one checkpoint.

Receipt exports write these bundles to a file; compliance reports verify them. Only
receipts the checkpoint's tree holds are read, so every bundle carries a proof.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import storage.receipts as receipts_repo
from app.healthcare.service import receipt_object
from app.healthcare.verify import make_bundle
from storage.receipts import ReceiptFilter, ReceiptPosition
from storage.transparency_log import CheckpointRecord

PAGE_SIZE = 500  # receipts read, and proven with one node query, at a time
# prove(leaf indices, tree size) -> each index's inclusion proof (TransparencyLog.inclusion_many)
Prove = Callable[[list[int], int], dict[int, list[bytes]]]


def provable(since: datetime | None, until: datetime | None,
             checkpoint: CheckpointRecord | None) -> ReceiptFilter:
    """The receipts in [since, until) that ``checkpoint``'s tree holds (none without one)."""
    return ReceiptFilter(since=since, until=until, sequenced_only=True,
                         below_index=checkpoint.size if checkpoint else 0)


def proven_pages(user_id: str, where: ReceiptFilter, checkpoint: CheckpointRecord | None,
                 prove: Prove, page_size: int = PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of bundles, oldest receipt first, for the receipts ``provable`` selected."""
    if checkpoint is None:
        return
    after = None
    while rows := receipts_repo.page(user_id, where, after, page_size, newest_first=False):
        proofs = prove([row.leaf_index for row in rows], checkpoint.size)
        yield [make_bundle(receipt_object(row), row.leaf_index, proofs[row.leaf_index],
                           checkpoint.note, checkpoint.size) for row in rows]
        after = ReceiptPosition(rows[-1].created_at, rows[-1].id)
