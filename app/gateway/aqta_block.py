"""The ``aqta`` block every answer carries, written into the JSON bytes with exact money.

``cost_eur`` and ``saved_eur`` are JSON numbers carrying the Decimal's exact digits
(``0.00012255``, a cache hit's ``0.00000000``): never a float's rounding, never
exponent notation. No JSON library writes a Decimal as a number, so the block is
written here, once, and spliced into the answer or the stream's final chunk.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import orjson


def eur_number(amount: Decimal) -> bytes:
    """A non-negative Decimal as a JSON number with all its digits, in plain notation."""
    digits = format(amount, "f")
    if amount.is_nan() or amount.is_infinite() or digits.startswith("-"):
        raise ValueError(f"not an amount of money: {amount}")
    return digits.encode("ascii")


@dataclass(frozen=True)
class AqtaBlock:
    """What Aqta adds to an answer: its cost, the provider, and how it was served."""

    request_id: str
    provider: str
    cost: Decimal
    saved: Decimal | None = None  # set for a cached answer: what it would have cost
    receipt_id: str | None = None  # set on the healthcare tier: the answer's receipt

    def to_json(self) -> bytes:
        money = b'{"cost_eur":' + eur_number(self.cost)
        if self.saved is not None:
            money += b',"saved_eur":' + eur_number(self.saved)
        rest = {"provider": self.provider, "cached": self.saved is not None,
                "loop_detected": False, "request_id": self.request_id}
        if self.receipt_id is not None:
            rest["receipt_id"] = self.receipt_id
        rest = orjson.dumps(rest)
        return money + b"," + rest[1:]


def with_aqta(payload: dict, block: AqtaBlock) -> bytes:
    """``payload`` (a completion or a chunk) as JSON bytes, with the block as its last member."""
    body = orjson.dumps({name: value for name, value in payload.items() if name != "aqta"})
    separator = b"," if body != b"{}" else b""
    return body[:-1] + separator + b'"aqta":' + block.to_json() + b"}"
