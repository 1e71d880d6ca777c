"""Checking a leaf's bundle: the leaf, its inclusion proof and the signed checkpoint.

A bundle is what ``GET /api/health/receipts/{id}`` answers and what each line of
a JSONL export holds; the leaf sits under its type's name (``receipt``,
``audit_event`` or ``amendment``), so one verifier proves every kind of leaf.
Everything here runs offline with the standard library plus ``cryptography``: the
``aqta receipts verify`` command and the verify route share it.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from app.healthcare import merkle
from app.healthcare.checkpoint import Checkpoint, open_checkpoint
from app.healthcare.leaves import LEAF_TYPES, RECEIPT, LeafError, leaf_bytes
from app.healthcare.note import NoteError, Verifier

PENDING, SEQUENCED = "pending", "sequenced"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def make_bundle(leaf: dict, leaf_index: int | None, proof: list[bytes] | None,
                checkpoint_note: str | None, tree_size: int | None) -> dict:
    """The self-contained document a leaf is proven by (``status`` pending without a proof)."""
    try:
        leaf_hash = base64.b64encode(merkle.leaf_hash(leaf_bytes(leaf))).decode()
    except LeafError:  # a damaged row: the bundle is still shown, and fails its checks
        leaf_hash = None
    kind = leaf.get("leaf_type") if leaf.get("leaf_type") in LEAF_TYPES else RECEIPT
    bundle = {kind: leaf, "status": PENDING if proof is None else SEQUENCED,
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


def bundled_leaf(bundle: object) -> tuple[str, dict] | None:
    """The one leaf a bundle carries, with its type's name; None if it carries none (or two)."""
    if not isinstance(bundle, dict):
        return None
    found = [(kind, bundle[kind]) for kind in LEAF_TYPES if isinstance(bundle.get(kind), dict)]
    return found[0] if len(found) == 1 else None


def verify_bundle(bundle: object, verifiers: Iterable[Verifier], origin: str | None = None) -> list[Check]:
    """Every check on ``bundle``, in order; the bundle is valid when all are ``ok``."""
    carried = bundled_leaf(bundle)
    if carried is None:
        return [Check("format", False, "not a leaf bundle (no receipt, audit_event or amendment object)")]
    kind, content = carried
    if content.get("leaf_type") != kind:
        return [Check("format", False, f"the bundle's {kind} object is a {content.get('leaf_type')!r} leaf")]
    checks: list[Check] = []
    try:
        leaf = merkle.leaf_hash(leaf_bytes(content))
    except LeafError as exc:
        return [Check("leaf_hash", False, f"the {kind} has no canonical form: {exc}")]
    stated = bundle.get("leaf_hash")
    same = stated is None or stated == base64.b64encode(leaf).decode()
    checks.append(Check("leaf_hash", same, f"recomputed from the {kind}'s canonical bytes"
                        + ("" if same else "; it differs from the bundle's leaf_hash")))
    if bundle.get("status") != SEQUENCED:
        checks.append(Check("sequenced", False, f"the {kind} is still pending: no proof yet"))
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
