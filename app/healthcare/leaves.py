"""The log's leaves: canonical bytes of a typed, versioned JSON object.

Every leaf of the deployment's one tree is a JSON object with ``"leaf_type"``
(``receipt`` now; ``audit_event`` and ``amendment`` join the same tree later)
and ``"v"`` (the format version), serialised canonically: keys sorted, no
spaces, UTF-8, integers and strings only (money as decimal strings, times as
ISO 8601 UTC with microseconds), so anyone can rebuild the exact bytes from the
object and hash them. Standard library only, for the offline verifier.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

from app.healthcare.merkle import leaf_hash

LEAF_VERSION = 1
RECEIPT = "receipt"
AUDIT_EVENT = "audit_event"
AMENDMENT = "amendment"
LEAF_TYPES = (RECEIPT, AUDIT_EVENT, AMENDMENT)


class LeafError(ValueError):
    """An object cannot be a leaf (a float, a missing type, a non-string key...)."""


SCALARS = frozenset((str, int, bool, type(None)))  # exact types; subclasses take the slow path
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)


def _check(value: object, where: str) -> None:
    """Raise ``LeafError`` naming where ``value`` holds what has no canonical form (a path is
    only spelled out for a nested list or object: a receipt is checked on every answer)."""
    if type(value) in SCALARS or isinstance(value, int | str):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            if type(item) not in SCALARS:
                _check(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LeafError(f"{where}: keys must be strings")
            if type(item) not in SCALARS:
                _check(item, f"{where}.{key}")
        return
    raise LeafError(f"{where}: {type(value).__name__} has no canonical form in a leaf")


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (non-ASCII kept), as ``json.dumps`` writes it
    (one encoder with those settings, not a new one per call)."""
    return _ENCODER.encode(value).encode()


def leaf_bytes(leaf: dict) -> bytes:
    """The exact bytes hashed into the tree for ``leaf``."""
    if leaf.get("leaf_type") not in LEAF_TYPES or leaf.get("v") != LEAF_VERSION:
        raise LeafError(f"a leaf needs leaf_type in {LEAF_TYPES} and v={LEAF_VERSION}")
    _check(leaf, "leaf")
    return canonical_json(leaf)


def hash_of(leaf: dict) -> bytes:
    return leaf_hash(leaf_bytes(leaf))


def parse_leaf(data: bytes) -> dict:
    """The object behind leaf bytes; raises ``LeafError`` if they are not canonical."""
    try:
        leaf = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise LeafError("leaf bytes are not JSON") from None
    if not isinstance(leaf, dict) or leaf_bytes(leaf) != data:
        raise LeafError("leaf bytes are not in canonical form")
    return leaf


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``: one spelling per instant."""
    if moment.tzinfo is None:
        raise LeafError("a leaf's time must be timezone-aware")
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # strftime writes such a year unpadded; keep its spelling
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # strftime is slower


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
