"""The log's worker side: store handed-off leaves, number them, sign and announce checkpoints."""
from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from flask import current_app

import storage.transparency_log as log_repo
import storage.users as users_repo
from app.handoff.drain import drain_handoff, in_flight
from app.healthcare.leaves import RECEIPT, LeafError, parse_leaf, parse_timestamp
from app.healthcare.merkle import leaf_hash
from app.healthcare.receipts import HEALTHCARE_TIER
from app.healthcare.transparency import transparency_log
from app.webhooks import service as webhooks
from app.webhooks.events import LOG_CHECKPOINT
from storage.transparency_log import CheckpointRecord, NewEntry, ReceiptIndex

log = logging.getLogger(__name__)
T = TypeVar("T")
GROUP = "aqta-transparency-log"  # the stream's consumer group
READ_THROUGH_SECONDS = 1.0  # how long a reader waits on leaves another drain is storing
READ_THROUGH_POLL_SECONDS = 0.02


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


def drain_leaves(wait_seconds: float = 0.0) -> int:
    """Move handed-off leaves from the stream (with Redis) and the journal into the table.

    ``wait_seconds``: how long to wait for the journal while another drain holds it.
    """
    settings = current_app.config["AQTA_SETTINGS"]
    return drain_handoff(current_app.extensions.get("aqta.redis"), settings.log_stream, GROUP,
                         settings.log_journal_dir, store_leaves, wait_seconds=wait_seconds)


def read_through(find: Callable[[], T]) -> T | None:
    """``find()`` again once every leaf handed off so far is stored (pending), or None.

    A receipt is in no table for the second between its answer and the next drain:
    a reader drains the hand-off itself (idempotent, as any drain), waiting for the
    journal while another drain holds it, and for stream entries another consumer has
    read and is storing; no work is added to the hot path.
    """
    deadline = time.monotonic() + READ_THROUGH_SECONDS
    try:
        drain_leaves(wait_seconds=READ_THROUGH_SECONDS)
    except redis.RedisError:
        log.warning("transparency log: the hand-off stream is unreachable; reading the table only")
    found = find()
    client = current_app.extensions.get("aqta.redis")
    stream = current_app.config["AQTA_SETTINGS"].log_stream
    while found is None and client is not None and time.monotonic() < deadline:
        try:
            if not in_flight(client, stream, GROUP):
                break
        except redis.RedisError:
            break
        time.sleep(READ_THROUGH_POLL_SECONDS)
        found = find()
    return found
