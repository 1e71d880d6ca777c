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


def _check(value: object, where: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LeafError(f"{where}: keys must be strings")
            _check(item, f"{where}.{key}")
        return
    raise LeafError(f"{where}: {type(value).__name__} has no canonical form in a leaf")


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (non-ASCII kept), as ``json.dumps`` writes it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


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
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
