"""The bundle verifier's checks, one by one, on a small signed log built in memory.

``verify_bundle`` is what both the offline command and the verify route run, so
each refusal is pinned here with its exact reason: a verifier that let one pass,
or said the wrong thing, is what these tests catch.
"""
from __future__ import annotations

import base64

import pytest

from app.healthcare.checkpoint import Checkpoint, sign_checkpoint
from app.healthcare.leaves import leaf_bytes
from app.healthcare.merkle import MemoryTree, leaf_hash
from app.healthcare.note import Signer
from app.healthcare.verify import Check, all_ok, bundled_leaf, make_bundle, verify_bundle

ORIGIN = "aqta.test/verify-log"


def receipt(number: int) -> dict:
    return {"leaf_type": "receipt", "v": 1, "id": f"rcpt_{number}", "model": "mock-1", "cost_eur": "0.000012"}


def amendment(number: int, receipt_id: str) -> dict:
    return {"leaf_type": "amendment", "v": 1, "id": f"amd_{number}", "receipt_id": receipt_id}


def audit_event(number: int) -> dict:
    return {"leaf_type": "audit_event", "v": 1, "id": f"evt_{number}", "type": "receipt.read"}


LEAVES = [receipt(1), amendment(2, "rcpt_1"), receipt(3), audit_event(4), receipt(5)]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate(ORIGIN)


def signed_log(leaves: list[dict], signer: Signer, origin: str = ORIGIN) -> tuple[MemoryTree, str]:
    tree = MemoryTree()
    for leaf in leaves:
        tree.append(leaf_bytes(leaf))
    return tree, sign_checkpoint(Checkpoint(origin, len(leaves), tree.root()), signer)


def proven(index: int, signer: Signer, leaves: list[dict] = LEAVES) -> dict:
    tree, note = signed_log(leaves, signer)
    return make_bundle(leaves[index], index, tree.inclusion_proof(index, len(leaves)), note, len(leaves))


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def outcome(checks: list[Check]) -> list[tuple[str, bool, str]]:
    return [(c.name, c.ok, c.detail) for c in checks]


def test_a_proven_bundle_holds_its_leaf_proof_and_checkpoint(signer):
    tree, note = signed_log(LEAVES, signer)
    bundle = make_bundle(LEAVES[2], 2, tree.inclusion_proof(2, 5), note, 5)
    assert bundle == {"receipt": LEAVES[2], "status": "sequenced", "leaf_index": 2,
                      "leaf_hash": b64(leaf_hash(leaf_bytes(LEAVES[2]))), "tree_size": 5,
                      "inclusion_proof": [b64(h) for h in tree.inclusion_proof(2, 5)], "checkpoint": note}


def test_a_pending_bundle_has_no_proof_and_each_leaf_sits_under_its_types_name():
    assert make_bundle(LEAVES[1], None, None, None, None) == {
        "amendment": LEAVES[1], "status": "pending", "leaf_index": None,
        "leaf_hash": b64(leaf_hash(leaf_bytes(LEAVES[1])))}
    assert set(make_bundle(LEAVES[3], None, None, None, None)) == {"audit_event", "status", "leaf_index",
                                                                   "leaf_hash"}


def test_a_damaged_leaf_is_still_bundled_and_fails_its_checks(signer):
    damaged = {**receipt(9), "cost_eur": 0.5}  # a float has no canonical form
    bundle = make_bundle(damaged, 0, [], "note", 1)
    assert bundle["receipt"] is damaged and bundle["leaf_hash"] is None
    unknown_type = {**receipt(9), "leaf_type": "memo"}
    assert "receipt" in make_bundle(unknown_type, None, None, None, None)  # shown as a receipt
    assert outcome(verify_bundle(bundle, [signer.verifier])) == [
        ("leaf_hash", False, "the receipt has no canonical form: leaf.cost_eur: float has no canonical "
                             "form in a leaf")]


@pytest.mark.parametrize(("index", "kind"), [(0, "receipt"), (1, "amendment"), (3, "audit_event"),
                                             (4, "receipt")])
def test_every_kind_of_leaf_passes_every_check_in_order(signer, index, kind):
    checks = verify_bundle(proven(index, signer), [signer.verifier], ORIGIN)
    assert outcome(checks) == [
        ("leaf_hash", True, f"recomputed from the {kind}'s canonical bytes"),
        ("checkpoint_signature", True, "signed by a trusted key; tree size 5"),
        ("tree_size", True, "matches the signed checkpoint"),
        ("inclusion_proof", True, f"leaf {index} is in the signed tree")]
    assert all_ok(checks)
    assert checks[0].as_dict() == {"name": "leaf_hash", "ok": True,
                                   "detail": f"recomputed from the {kind}'s canonical bytes"}


def test_a_bundle_without_its_leaf_hash_is_checked_on_the_recomputed_one(signer):
    bundle = proven(2, signer)
    del bundle["leaf_hash"]
    assert all_ok(verify_bundle(bundle, [signer.verifier]))


def test_no_checks_is_not_a_pass():
    assert all_ok([]) is False
    assert all_ok([Check("a", True, ""), Check("b", False, "")]) is False


@pytest.mark.parametrize("bundle", [None, [], "receipt", {}, {"receipt": "rcpt_1"},
                                    {"receipt": receipt(1), "amendment": amendment(2, "rcpt_1")}],
                         ids=["none", "list", "text", "empty", "leaf-not-an-object", "two-leaves"])
def test_what_is_not_one_leafs_bundle_is_refused_as_such(signer, bundle):
    assert bundled_leaf(bundle) is None
    assert outcome(verify_bundle(bundle, [signer.verifier])) == [
        ("format", False, "not a leaf bundle (no receipt, audit_event or amendment object)")]


def test_the_bundle_carries_its_leaf_under_the_leafs_own_type(signer):
    bundle = proven(1, signer)
    assert bundled_leaf(bundle) == ("amendment", LEAVES[1])
    bundle["receipt"] = bundle.pop("amendment")
    assert outcome(verify_bundle(bundle, [signer.verifier])) == [
        ("format", False, "the bundle's receipt object is a 'amendment' leaf")]


def _other_key() -> Signer:
    return Signer.generate(ORIGIN)


NOT_BASE64 = [("inclusion_proof", False, "inclusion_proof holds something that is not base64")]
EVERY_CHECK = ["leaf_hash", "checkpoint_signature", "tree_size", "inclusion_proof"]


def _set_first_hash(bundle: dict, value: str) -> None:
    bundle["inclusion_proof"][0] = value


# Each change to a proven bundle of leaf 2 (rcpt_3) and the checks that then fail, exactly.
REFUSALS = {
    "leaf-hash-differs": (lambda b, s: b.update(leaf_hash=b64(b"\0" * 32)),
                          [("leaf_hash", False, "recomputed from the receipt's canonical bytes; it differs "
                                                "from the bundle's leaf_hash")]),
    "pending": (lambda b, s: b.update(status="pending"),
                [("sequenced", False, "the receipt is still pending: no proof yet")]),
    "no-status": (lambda b, s: b.pop("status"),
                  [("sequenced", False, "the receipt is still pending: no proof yet")]),
    "no-checkpoint": (lambda b, s: b.pop("checkpoint"),
                      [("checkpoint_signature", False, "malformed note: it must end in a newline")]),
    "unknown-key": (lambda b, s: b.update(checkpoint=signed_log(LEAVES, _other_key())[1]),
                    [("checkpoint_signature", False, "no trusted key signed the note")]),
    "other-log": (lambda b, s: b.update(checkpoint=signed_log(LEAVES, s, "aqta.test/other")[1]),
                  [("checkpoint_signature", False,
                    "the checkpoint is for log 'aqta.test/other', not 'aqta.test/verify-log'")]),
    "tree-size-differs": (lambda b, s: b.update(tree_size=6),
                          [("tree_size", False, "the bundle says 6, the checkpoint 5")]),
    "no-tree-size": (lambda b, s: b.pop("tree_size"),
                     [("tree_size", False, "the bundle says None, the checkpoint 5")]),
    "index-a-string": (lambda b, s: b.update(leaf_index="2"),
                       [("inclusion_proof", False, "leaf_index is not an integer")]),
    "index-a-bool": (lambda b, s: b.update(leaf_index=True),
                     [("inclusion_proof", False, "leaf_index is not an integer")]),
    "index-missing": (lambda b, s: b.pop("leaf_index"),
                      [("inclusion_proof", False, "leaf_index is not an integer")]),
    "other-index": (lambda b, s: b.update(leaf_index=3),
                    [("inclusion_proof", False, "the inclusion proof does not lead to the root")]),
    "index-outside": (lambda b, s: b.update(leaf_index=5),
                      [("inclusion_proof", False, "leaf index 5 is outside a tree of size 5")]),
    "proof-not-a-list": (lambda b, s: b.update(inclusion_proof=" ".join(b["inclusion_proof"])),
                         [("inclusion_proof", False, "inclusion_proof must be a list")]),
    "proof-missing": (lambda b, s: b.pop("inclusion_proof"),
                      [("inclusion_proof", False, "inclusion_proof must be a list")]),
    "proof-not-base64": (lambda b, s: b["inclusion_proof"].append("not base64!"), NOT_BASE64),
    # Read leniently, the "!" would be skipped and the proof pass.
    "proof-base64-with-junk": (lambda b, s: _set_first_hash(b, "!" + b["inclusion_proof"][0]), NOT_BASE64),
    "proof-holds-a-number": (lambda b, s: b["inclusion_proof"].append(7), NOT_BASE64),
    "proof-hash-changed": (lambda b, s: _set_first_hash(b, b64(b"\1" * 32)),
                           [("inclusion_proof", False, "the inclusion proof does not lead to the root")]),
    "proof-too-long": (lambda b, s: b["inclusion_proof"].append(b64(b"\1" * 32)),
                       [("inclusion_proof", False, "the inclusion proof is too long")]),
    "leaf-edited": (lambda b, s: (b["receipt"].update(cost_eur="0.000013"), b.pop("leaf_hash")),
                    [("inclusion_proof", False, "the inclusion proof does not lead to the root")]),
}


@pytest.mark.parametrize("change", list(REFUSALS))
def test_each_refusal_fails_its_check_and_says_why(signer, change):
    alter, failing = REFUSALS[change]
    bundle = proven(2, signer)
    bundle["receipt"] = dict(bundle["receipt"])
    alter(bundle, signer)
    checks = verify_bundle(bundle, [signer.verifier], ORIGIN)
    assert [c for c in outcome(checks) if not c[1]] == failing
    assert not all_ok(checks)
    stops_at = {"sequenced": 2, "checkpoint_signature": 2}.get(failing[0][0])
    if stops_at is not None:  # nothing is checked after a missing proof or an unopened checkpoint
        assert len(checks) == stops_at
    else:
        assert [c.name for c in checks] == EVERY_CHECK
