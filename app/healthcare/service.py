"""Receipts for their owner: list, fetch with a proof, verify (healthcare tier only).

The JSON API (app.api.health) and the dashboard's receipt pages both call these.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import storage.receipts as receipts_repo
import storage.users as users_repo
from app.analytics.cursors import decode_cursor, encode_cursor
from app.errors import InsufficientTier, NotFound
from app.healthcare import audit
from app.healthcare.leaves import parse_timestamp
from app.healthcare.receipts import HEALTHCARE_TIER, check_commitment, issuer
from app.healthcare.sequencer import read_through
from app.healthcare.transparency import transparency_log
from app.healthcare.verify import PENDING, SEQUENCED, Check, all_ok, make_bundle, verify_bundle
from storage.receipts import ReceiptFilter, ReceiptPosition, StoredReceipt
from storage.request_history import Position


@dataclass(frozen=True)
class ReceiptPage:
    data: list[dict]  # receipts, newest first, each with its leaf_index and status
    next_cursor: str | None  # None on the last page

RECEIPT_ID_PREFIX = "rcpt_"


class ReceiptNotFound(NotFound):
    code = "receipt_not_found"

    def __init__(self, receipt_id: str):
        super().__init__(f"No receipt {receipt_id} in this account.")


def require_healthcare(user_id: str, tier: str | None = None) -> None:
    tier = tier or users_repo.get(user_id).tier
    if tier != HEALTHCARE_TIER:
        raise InsufficientTier(f"Receipts need the healthcare tier; this account is on the {tier} tier.")


def receipt_object(stored: StoredReceipt) -> dict:
    try:
        value = json.loads(stored.leaf_data)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"id": stored.id, "unreadable": True}


def bundle_of(stored: StoredReceipt) -> dict:
    """The receipt with its inclusion proof against the latest checkpoint, or pending."""
    proof = transparency_log().inclusion(stored.leaf_index) if stored.leaf_index is not None else None
    if proof is None:
        return make_bundle(receipt_object(stored), stored.leaf_index, None, None, None)
    return make_bundle(receipt_object(stored), stored.leaf_index, proof.hashes, proof.checkpoint.note,
                       proof.checkpoint.size)


def get_bundle(user_id: str, receipt_id: str) -> dict:
    """The account's receipt, pending from the moment its answer left; another's is not found."""
    bundle = _bundle(user_id, receipt_id)
    audit.record(audit.RECEIPT_READ, audit.READ, account_id=user_id, entity_type=audit.RECEIPT,
                 entity_id=receipt_id)
    return bundle


def _bundle(user_id: str, receipt_id: str) -> dict:
    stored = receipts_repo.get(user_id, receipt_id)
    if stored is None and receipt_id.startswith(RECEIPT_ID_PREFIX):
        stored = read_through(lambda: receipts_repo.get(user_id, receipt_id))
    if stored is None:
        raise ReceiptNotFound(receipt_id)
    return bundle_of(stored)


def page(user_id: str, where: ReceiptFilter, after: ReceiptPosition | None, limit: int) -> list[dict]:
    # The receipt keeps its own "status" (the answer's outcome); the log's is "log_status".
    return [{**receipt_object(r), "leaf_index": r.leaf_index,
             "log_status": PENDING if r.leaf_index is None else SEQUENCED}
            for r in receipts_repo.page(user_id, where, after, limit)]


def receipt_page(user_id: str, cursor: str | None, limit: int, *, since: datetime | None = None,
                 until: datetime | None = None, key_id: str | None = None,
                 model: str | None = None) -> ReceiptPage:
    """One page of the account's receipts, newest first, keyset-paged on (created_at, id)."""
    where = ReceiptFilter(since=since, until=until, key_id=key_id, model=model)
    after = None
    if cursor:
        position = decode_cursor(cursor, id_prefix="rcpt_")
        after = ReceiptPosition(position.created_at, position.request_id)
    rows = page(user_id, where, after, limit + 1)
    audit.record(audit.RECEIPTS_LISTED, audit.READ, account_id=user_id, entity_type=audit.RECEIPT,
                 entity_id=audit.ALL_OF_THEM)
    data, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more:
        last = data[-1]
        next_cursor = encode_cursor(Position(parse_timestamp(last["created_at"]), last["id"]))
    return ReceiptPage(data, next_cursor)


def verify(user_id: str, receipt_id: str, request: dict | None, answer: dict | None) -> dict:
    """Recompute the leaf hash, check the proof and signature, and the commitments if given."""
    bundle = _bundle(user_id, receipt_id)
    tlog = transparency_log()
    checks = verify_bundle(bundle, tlog.verifiers(), tlog.origin)
    commitments = bundle["receipt"].get("commitments") or {}
    for kind, body in (("request", request), ("answer", answer)):
        if body is None:
            continue
        expected = commitments.get(kind)
        ok = isinstance(expected, str) and check_commitment(issuer(), user_id, expected, kind, body)
        checks.append(Check(f"{kind}_commitment", ok, f"the {kind} given " +
                            ("matches the receipt's commitment" if ok else "does not match the receipt")))
    valid = all_ok(checks)
    audit.record(audit.RECEIPT_VERIFIED, audit.EXECUTE, account_id=user_id, entity_type=audit.RECEIPT,
                 entity_id=receipt_id, detail={"valid": valid})
    return {"receipt_id": receipt_id, "valid": valid, "status": bundle["status"],
            "checks": [check.as_dict() for check in checks]}
