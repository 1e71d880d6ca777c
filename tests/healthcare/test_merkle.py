"""RFC 9162 proofs: published vectors, a naive recomputation for every size, tampering."""
from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path

import pytest

from app.healthcare import merkle
from app.healthcare.merkle import MemoryTree, ProofError

VECTORS = Path(__file__).parent / "vectors" / "merkle"
MAX_SIZE = 300


def _probes(kind: str) -> list[tuple[str, dict]]:
    return [(str(path.relative_to(VECTORS)), json.loads(path.read_text()))
            for path in sorted((VECTORS / kind).rglob("*.json"))]


def _name(value) -> str:
    return value if isinstance(value, str) else ""


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or ()]


@pytest.mark.parametrize(("name", "probe"), _probes("inclusion"), ids=_name)
def test_inclusion_vectors(name, probe):
    def run():
        merkle.verify_inclusion(probe["leafIdx"], probe["treeSize"], _b64(probe["leafHash"]),
                                _proof(probe["proof"]), _b64(probe["root"]))
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()


@pytest.mark.parametrize(("name", "probe"), _probes("consistency"), ids=_name)
def test_consistency_vectors(name, probe):
    def run():
        merkle.verify_consistency(probe["size1"], probe["size2"], _b64(probe["root1"]),
                                  _b64(probe["root2"]), _proof(probe["proof"]))
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()


def test_vectors_cover_both_outcomes():
    outcomes = {p["wantErr"] for _, p in _probes("inclusion") + _probes("consistency")}
    assert outcomes == {True, False} and len(_probes("inclusion")) > 50


def test_reference_tree_nodes_and_roots():
    reference = json.loads((VECTORS / "reference_tree.json").read_text())
    tree = MemoryTree()
    for data in reference["leaf_inputs_hex"]:
        tree.append(bytes.fromhex(data))
    for size, root in enumerate(reference["root_hashes_hex_by_size"]):
        assert tree.root(size).hex() == root
    for level, hashes in enumerate(reference["node_hashes_hex_by_level"]):
        for index, value in enumerate(hashes):
            assert tree.node((level, index)).hex() == value


# -- a naive recomputation, straight from the RFC's recursive definitions ----------------------

LEAVES = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE)]


@cache
def mth(start: int, end: int) -> bytes:
    if end - start == 1:
        return LEAVES[start]
    k = 1 << ((end - start - 1).bit_length() - 1)
    return merkle.node_hash(mth(start, start + k), mth(start + k, end))


def naive_path(m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return naive_path(m, start, start + k) + [mth(start + k, end)]
    return naive_path(m - k, start + k, end) + [mth(start, start + k)]


def naive_subproof(m: int, start: int, end: int, known: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if known else [mth(start, end)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return naive_subproof(m, start, start + k, known) + [mth(start + k, end)]
    return naive_subproof(m - k, start + k, end, False) + [mth(start, start + k)]


def stored_node(node: merkle.Node) -> bytes:
    level, index = node
    return mth(index << level, (index + 1) << level)


def test_inclusion_proofs_match_the_naive_path_for_every_size():
    for size in range(1, MAX_SIZE + 1):
        root = merkle.range_hash(0, size, stored_node)
        assert root == mth(0, size)
        for index in range(size):
            proof = [merkle.range_hash(a, b, stored_node) for a, b in merkle.inclusion_ranges(index, size)]
            assert proof == naive_path(index, 0, size)
            merkle.verify_inclusion(index, size, LEAVES[index], proof, root)


def test_consistency_proofs_match_the_naive_proof_for_every_pair():
    for new in range(1, MAX_SIZE + 1):
        new_root = mth(0, new)
        for old in range(1, new + 1):
            proof = [merkle.range_hash(a, b, stored_node) for a, b in merkle.consistency_ranges(old, new)]
            assert proof == naive_subproof(old, 0, new, True)
            merkle.verify_consistency(old, new, mth(0, old), new_root, proof)


def test_extending_in_batches_stores_every_completed_node_and_the_new_root():
    # The sequencer's way: each batch adds the perfect subtrees its leaves complete, and nothing else.
    stored: dict[merkle.Node, bytes] = {}
    size = 0
    for batch in (1, 1, 2, 3, 1, 8, 5, 16, 1, 26):
        made, root = merkle.extend(size, stored.__getitem__, LEAVES[size:size + batch])
        assert not set(made) & set(stored)
        stored.update(made)
        size += batch
        assert root == mth(0, size)
    assert size == 64
    assert stored == {(level, index): stored_node((level, index))
                      for level in range(7) for index in range(size >> level)}


def test_memory_tree_agrees_with_the_stored_form():
    tree = MemoryTree(LEAVES[:37])
    assert tree.root() == mth(0, 37)
    assert tree.inclusion_proof(5, 37) == naive_path(5, 0, 37)
    assert tree.consistency_proof(13, 37) == naive_subproof(13, 0, 37, True)
    assert merkle.root_of(LEAVES[:37]) == mth(0, 37)


# -- tampering ----------------------------------------------------------------------------------

def _flips(value: bytes):
    for bit in range(len(value) * 8):
        flipped = bytearray(value)
        flipped[bit // 8] ^= 1 << (bit % 8)
        yield bytes(flipped)


@pytest.mark.parametrize(("index", "size"), [(0, 1), (5, 13), (12, 13), (64, 200)])
def test_every_bit_flip_of_an_inclusion_proof_is_rejected(index, size):
    root = mth(0, size)
    proof = naive_path(index, 0, size)
    for bad_leaf in _flips(LEAVES[index]):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, bad_leaf, proof, root)
    for bad_root in _flips(root):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, LEAVES[index], proof, bad_root)
    for position, element in enumerate(proof):
        for bad in _flips(element):
            with pytest.raises(ProofError):
                merkle.verify_inclusion(index, size, LEAVES[index],
                                        proof[:position] + [bad] + proof[position + 1:], root)
    # (A flipped tree size can leave the path's shape unchanged; the signed checkpoint
    # binds size and root together, and test_checkpoint flips it there.)
    for bad_index in {index ^ (1 << bit) for bit in range(12)} - {index}:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(bad_index, size, LEAVES[index], proof, root)


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 7), (4, 8), (100, 257)])
def test_every_bit_flip_of_a_consistency_proof_is_rejected(old, new):
    old_root, new_root = mth(0, old), mth(0, new)
    proof = naive_subproof(old, 0, new, True)
    for bad in _flips(old_root):
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, bad, new_root, proof)
    for bad in _flips(new_root):
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, bad, proof)
    for position, element in enumerate(proof):
        for bad in _flips(element):
            with pytest.raises(ProofError):
                merkle.verify_consistency(old, new, old_root, new_root,
                                          proof[:position] + [bad] + proof[position + 1:])
    for bad_old in {old ^ (1 << bit) for bit in range(12)} - {old}:
        if 0 < bad_old <= new:
            with pytest.raises(ProofError):
                merkle.verify_consistency(bad_old, new, old_root, new_root, proof)


def test_a_rewritten_history_fails_consistency():
    rewritten = LEAVES[:10] + [merkle.leaf_hash(b"forged")] + LEAVES[11:50]
    forged = MemoryTree(rewritten)
    with pytest.raises(ProofError):
        merkle.verify_consistency(20, 50, mth(0, 20), forged.root(), forged.consistency_proof(20, 50))


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0)])
def test_inclusion_ranges_refuse_impossible_indices(index, size):
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(index, size)


# -- each refusal says which check failed: the verifier prints it as the reason --------------

def _consistency(old: int, new: int) -> list[bytes]:
    return [merkle.range_hash(a, b, stored_node) for a, b in merkle.consistency_ranges(old, new)]


def _refusal(check, *args) -> str:
    with pytest.raises(ValueError) as refused:
        check(*args)
    return str(refused.value)


def test_a_refused_inclusion_proof_says_why():
    root2 = mth(0, 2)
    verify = merkle.verify_inclusion
    assert _refusal(verify, 2, 2, LEAVES[0], [LEAVES[1]], root2) == "leaf index 2 is outside a tree of size 2"
    assert _refusal(verify, 0, 1, LEAVES[0], [LEAVES[1]], LEAVES[0]) == "the inclusion proof is too long"
    assert _refusal(verify, 0, 2, LEAVES[0], [], root2) == "the inclusion proof is too short"
    assert _refusal(verify, 0, 2, LEAVES[0], [LEAVES[1]], bytes(32)) == (
        "the inclusion proof does not lead to the root")
    assert _refusal(verify, 0, 1, b"short", [], LEAVES[0]) == "a hash is not 32 bytes"
    assert _refusal(verify, 0, 1, LEAVES[0], [], b"short") == "a hash is not 32 bytes"
    assert _refusal(merkle.inclusion_ranges, 2, 2) == "leaf index 2 is outside a tree of size 2"


def test_a_refused_consistency_proof_says_why():
    verify = merkle.verify_consistency
    r2, r3 = mth(0, 2), mth(0, 3)
    proof = _consistency(2, 3)
    assert _refusal(verify, 0, 3, r2, r3, proof) == "no consistency proof from size 0 to size 3"
    assert _refusal(verify, 3, 2, r3, r2, proof) == "no consistency proof from size 3 to size 2"
    assert _refusal(verify, 3, 3, r3, r3, proof) == "a proof between equal sizes must be empty"
    assert _refusal(verify, 3, 3, r3, r2, []) == "equal sizes with different roots"
    assert _refusal(verify, 2, 3, r2, r3, []) == "the consistency proof is empty"
    assert _refusal(verify, 2, 3, r2, r3, proof + proof) == "the consistency proof is too long"
    too_short = _consistency(3, 7)[:-1]
    assert _refusal(verify, 3, 7, r3, mth(0, 7), too_short) == "the consistency proof is too short"
    assert _refusal(verify, 3, 7, mth(0, 2), mth(0, 7), _consistency(3, 7)) == (
        "the consistency proof does not lead to the old root")
    assert _refusal(verify, 2, 3, r2, mth(0, 4), proof) == (
        "the consistency proof does not lead to the new root")
    assert _refusal(verify, 2, 3, b"short", r3, proof) == "a hash is not 32 bytes"
    assert _refusal(verify, 2, 3, r2, b"short", proof) == "a hash is not 32 bytes"
    assert _refusal(merkle.consistency_ranges, 0, 3) == "no consistency proof from size 0 to size 3"
