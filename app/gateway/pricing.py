"""Cost in EUR: usage times the price table, in Decimal, rounded once at the end."""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from providers.base import Usage

DEFAULT_PRICES_FILE = Path(__file__).parent / "data" / "prices.json"
TOKENS_PER_UNIT = Decimal(1_000_000)  # prices are per million tokens
CENT_FRACTION = Decimal("0.00000001")  # costs are kept to 1e-8 EUR


@dataclass(frozen=True)
class Price:
    input: Decimal  # EUR per million prompt tokens
    output: Decimal  # EUR per million completion tokens


class PriceTable:
    def __init__(self, prices: dict[str, Price], meta: dict):
        self.prices = prices
        self.meta = meta
        self._patterns = [(name[:-1], price) for name, price in prices.items() if name.endswith("*")]

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> "PriceTable":
        data = json.loads(Path(path or DEFAULT_PRICES_FILE).read_text())
        prices = {name: Price(Decimal(p["input"]), Decimal(p["output"]))
                  for name, p in data.pop("models").items()}
        return cls(prices, data)

    def price(self, model: str) -> Price | None:
        price = self.prices.get(model)
        if price is None:
            price = next((p for prefix, p in self._patterns if model.startswith(prefix)), None)
        return price

    def cost(self, model: str, usage: Usage) -> Decimal:
        """EUR for this usage; a model with no price costs 0 (and is logged by the caller)."""
        price = self.price(model)
        if price is None:
            return Decimal(0).quantize(CENT_FRACTION)
        exact = (price.input * usage.prompt_tokens + price.output * usage.completion_tokens) \
            / TOKENS_PER_UNIT
        return exact.quantize(CENT_FRACTION, rounding=ROUND_HALF_EVEN)
