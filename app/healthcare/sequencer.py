"""The log's worker side: store handed-off leaves, number them, sign and announce checkpoints."""
from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import redis
from flask import current_app

import storage.transparency_log as log_repo
import storage.users as users_repo
from app.handoff.drain import drain_journal, drain_stream
from app.healthcare.leaves import RECEIPT, LeafError, parse_leaf, parse_timestamp
from app.healthcare.merkle import leaf_hash
from app.healthcare.receipts import HEALTHCARE_TIER
from app.healthcare.transparency import transparency_log
from app.webhooks import service as webhooks
from app.webhooks.events import LOG_CHECKPOINT
from storage.transparency_log import CheckpointRecord, NewEntry, ReceiptIndex

log = logging.getLogger(__name__)
GROUP = "aqta-transparency-log"  # the stream's consumer group


def _decode(data: bytes) -> tuple[NewEntry, ReceiptIndex | None]:
    leaf = parse_leaf(data)
    entry = NewEntry(leaf["id"], leaf["leaf_type"], leaf.get("account_id"), data, leaf_hash(data))
    if leaf["leaf_type"] != RECEIPT:
        return entry, None
    return entry, ReceiptIndex(leaf["id"], leaf["account_id"], leaf["key_id"], leaf["request_id"],
                               leaf["model"], parse_timestamp(leaf["created_at"]))


def store_leaves(raw: list[bytes], reject: Callable[[bytes, Exception], None]) -> int:
    """Keep handed-off leaves as pending log entries (idempotently); a sink for the drains."""
    entries, receipts = [], []
    for data in raw:
        try:
            entry, receipt = _decode(data)
        except (LeafError, KeyError, TypeError, ValueError) as exc:
            reject(data, exc)
            continue
        entries.append(entry)
        if receipt is not None:
            receipts.append(receipt)
    return log_repo.add_pending(entries, receipts)


def publish() -> CheckpointRecord | None:
    """Sequence what is pending, sign a checkpoint if the tree grew, and announce it."""
    tlog = transparency_log()
    tlog.sequence_pending()
    checkpoint = tlog.sign_checkpoint()
    if checkpoint is not None:
        data = {"origin": tlog.origin, "tree_size": checkpoint.size,
                "root_hash": base64.b64encode(checkpoint.root).decode(), "key_id": checkpoint.key_id,
                "checkpoint": checkpoint.note}
        for user_id in users_repo.ids_with_tier(HEALTHCARE_TIER):
            webhooks.emit(LOG_CHECKPOINT, user_id, data)
    return checkpoint


def drain_leaves() -> int:
    """Move handed-off leaves from the stream (with Redis) and the journal into the table."""
    client = current_app.extensions.get("aqta.redis")
    settings = current_app.config["AQTA_SETTINGS"]
    total, failure = 0, None
    if client is not None:
        try:
            total += drain_stream(client, settings.log_stream, GROUP, store_leaves)
        except redis.RedisError as exc:
            failure = exc
    total += drain_journal(settings.log_journal_dir, store_leaves)
    if failure is not None:
        raise failure
    return total
