"""Checking a receipt bundle: the receipt, its inclusion proof and the signed checkpoint.

A bundle is what ``GET /api/health/receipts/{id}`` answers and what each line of
a JSONL export holds. Everything here runs offline with the standard library
plus ``cryptography``: the ``aqta receipts verify`` command and the verify route
share it.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from app.healthcare import merkle
from app.healthcare.checkpoint import Checkpoint, open_checkpoint
from app.healthcare.leaves import LeafError, leaf_bytes
from app.healthcare.note import NoteError, Verifier

PENDING, SEQUENCED = "pending", "sequenced"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def make_bundle(receipt: dict, leaf_index: int | None, proof: list[bytes] | None,
                checkpoint_note: str | None, tree_size: int | None) -> dict:
    """The self-contained document a receipt is proven by (``status`` pending without a proof)."""
    try:
        leaf_hash = base64.b64encode(merkle.leaf_hash(leaf_bytes(receipt))).decode()
    except LeafError:  # a damaged row: the bundle is still shown, and fails its checks
        leaf_hash = None
    bundle = {"receipt": receipt, "status": PENDING if proof is None else SEQUENCED,
              "leaf_index": leaf_index, "leaf_hash": leaf_hash}
    if proof is not None:
        bundle.update(tree_size=tree_size, inclusion_proof=[base64.b64encode(h).decode() for h in proof],
                      checkpoint=checkpoint_note)
    return bundle


def _hashes(values: object) -> list[bytes]:
    if not isinstance(values, list):
        raise ValueError("inclusion_proof must be a list")
    decoded = []
    for value in values:
        try:
            decoded.append(base64.b64decode(value, validate=True))
        except (binascii.Error, TypeError, ValueError):
            raise ValueError("inclusion_proof holds something that is not base64") from None
    return decoded


def verify_bundle(bundle: object, verifiers: Iterable[Verifier], origin: str | None = None) -> list[Check]:
    """Every check on ``bundle``, in order; the bundle is valid when all are ``ok``."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("receipt"), dict):
        return [Check("format", False, "not a receipt bundle (no receipt object)")]
    checks: list[Check] = []
    try:
        leaf = merkle.leaf_hash(leaf_bytes(bundle["receipt"]))
    except LeafError as exc:
        return [Check("leaf_hash", False, f"the receipt has no canonical form: {exc}")]
    stated = bundle.get("leaf_hash")
    same = stated is None or stated == base64.b64encode(leaf).decode()
    checks.append(Check("leaf_hash", same, "recomputed from the receipt's canonical bytes"
                        + ("" if same else "; it differs from the bundle's leaf_hash")))
    if bundle.get("status") != SEQUENCED:
        checks.append(Check("sequenced", False, "the receipt is still pending: no proof yet"))
        return checks
    try:
        checkpoint: Checkpoint = open_checkpoint(bundle.get("checkpoint") or "", verifiers, origin)
        checks.append(Check("checkpoint_signature", True,
                            f"signed by a trusted key; tree size {checkpoint.size}"))
    except NoteError as exc:
        checks.append(Check("checkpoint_signature", False, str(exc)))
        return checks
    size_ok = bundle.get("tree_size") == checkpoint.size
    checks.append(Check("tree_size", size_ok, "matches the signed checkpoint" if size_ok
                        else f"the bundle says {bundle.get('tree_size')}, the checkpoint {checkpoint.size}"))
    index = bundle.get("leaf_index")
    try:
        if not isinstance(index, int) or isinstance(index, bool):
            raise merkle.ProofError("leaf_index is not an integer")
        merkle.verify_inclusion(index, checkpoint.size, leaf, _hashes(bundle.get("inclusion_proof")),
                                checkpoint.root)
        checks.append(Check("inclusion_proof", True, f"leaf {index} is in the signed tree"))
    except (merkle.ProofError, ValueError) as exc:
        checks.append(Check("inclusion_proof", False, str(exc)))
    return checks


def all_ok(checks: list[Check]) -> bool:
    return bool(checks) and all(check.ok for check in checks)
