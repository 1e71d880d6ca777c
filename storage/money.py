"""Money in the database: integer micro-cents (EUR × 10^8), exact on every backend."""
from __future__ import annotations

from decimal import Decimal

MICROCENTS_PER_EUR = 10**8  # costs are rounded to 1e-8 EUR, so this loses nothing
EUR_QUANTUM = Decimal("0.00000001")


def to_microcents(eur: Decimal) -> int:
    scaled = eur * MICROCENTS_PER_EUR
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{eur} EUR has more precision than 1e-8")
    return int(scaled)


def to_eur(microcents: int) -> Decimal:
    return (Decimal(microcents) / MICROCENTS_PER_EUR).quantize(EUR_QUANTUM)
