"""RFC 9162 §2.1 Merkle trees: hashing, roots, inclusion and consistency proofs.

Pure functions on the standard library, so the offline verifier can use them.
A tree over ``n`` leaves is addressed by ranges ``[a, b)`` of leaf indices; a
proof is a list of range hashes. ``range_hash`` computes one from the hashes of
perfect subtrees ("nodes", ``(level, index)`` covers leaves
``[index·2^level, (index+1)·2^level)``), which is how the stored log answers
proofs with a handful of lookups instead of rehashing every leaf.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32  # bytes of a SHA-256 digest
Node = tuple[int, int]  # (level, index) of a perfect subtree
NodeLookup = Callable[[Node], bytes]


class ProofError(ValueError):
    """A proof does not verify; the message says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_cover(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, whose right fold is MTH(D[start:end]).

    Valid for the ranges a proof or root uses: ``start`` is a multiple of the
    largest power of two not above ``end - start`` rounded up, as every subtree
    of an RFC 9162 tree is.
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_hash(start: int, end: int, lookup: NodeLookup) -> bytes:
    """MTH(D[start:end]) from the hashes of its perfect subtrees."""
    if start == end:
        return empty_root()
    hashes = [lookup(node) for node in perfect_cover(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(index, D[0:size]), bottom-up (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return list(reversed(ranges))


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1)."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    ranges: list[tuple[int, int]] = []

    def subproof(m: int, start: int, end: int, known: bool) -> None:
        n = end - start
        if m == n:
            if not known:
                ranges.append((start, end))
            return
        k = _split(n)
        if m <= k:
            subproof(m, start, start + k, known)
            ranges.append((start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            ranges.append((start, start + k))

    subproof(old, 0, new, True)
    return ranges


def extend(size: int, lookup: NodeLookup, leaves: Sequence[bytes]) -> tuple[dict[Node, bytes], bytes]:
    """Append leaf hashes to a tree of ``size``: the perfect subtrees they complete, and the new root.

    ``lookup`` answers for the old tree's right edge (``perfect_cover(0, size)``).
    """
    made: dict[Node, bytes] = {}

    def get(node: Node) -> bytes:
        return made[node] if node in made else lookup(node)

    for offset, value in enumerate(leaves):
        level, index = 0, size + offset
        made[(0, index)] = value
        while index & 1:
            made[(level + 1, index >> 1)] = node_hash(get((level, index - 1)), get((level, index)))
            level, index = level + 1, index >> 1
    return made, range_hash(0, size + len(leaves), get)


class MemoryTree:
    """Every leaf hash in a list; for tests, the verifier's tools and small trees."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()):
        self.leaves = list(leaf_hashes)

    def append(self, data: bytes) -> None:
        self.leaves.append(leaf_hash(data))

    def node(self, node: Node) -> bytes:
        level, index = node
        return root_of(self.leaves[index << level:(index + 1) << level])

    def root(self, size: int | None = None) -> bytes:
        return range_hash(0, len(self.leaves) if size is None else size, self.node)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return [range_hash(a, b, self.node) for a, b in inclusion_ranges(index, size)]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return [range_hash(a, b, self.node) for a, b in consistency_ranges(old, new)]


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves with these hashes, by the RFC's recursive definition."""
    n = len(leaf_hashes)
    if n == 0:
        return empty_root()
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def _check_hashes(proof: Sequence[bytes], *others: bytes) -> None:
    for value in (*proof, *others):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError("a hash is not 32 bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf hash ``leaf`` (RFC 9162 §2.1.3.2)."""
    _check_hashes(proof, leaf)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ``ProofError`` unless ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``."""
    _check_hashes((), root)
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Raise ``ProofError`` unless ``proof`` shows tree ``old`` is a prefix of tree ``new``
    (RFC 9162 §2.1.4.2)."""
    if old <= 0 or new < old:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old == new:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes with different roots")
        return
    _check_hashes(proof, old_root, new_root)
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root")
