"""The price table's arithmetic: exact Decimal, per million tokens, rounded once to 1e-8 EUR."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.gateway.pricing import PriceTable
from providers.base import Usage


@pytest.fixture
def prices(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"currency": "EUR", "models": {
        "exact": {"input": "2.15", "output": "8.6"},
        "half": {"input": "0.005", "output": "0.015"},
        "family-*": {"input": "1", "output": "3"},
    }}))
    return PriceTable.from_file(path)


def test_cost_is_input_and_output_tokens_times_their_prices_per_million(prices):
    # 1234 * 2.15 + 567 * 8.6 = 7529.3 EUR per million = 0.0075293 EUR
    assert prices.cost("exact", Usage(prompt_tokens=1234, completion_tokens=567)) == Decimal("0.00752930")
    assert prices.cost("exact", Usage(prompt_tokens=1_000_000)) == Decimal("2.15000000")
    assert prices.cost("exact", Usage(completion_tokens=1_000_000)) == Decimal("8.60000000")


@pytest.mark.parametrize("prompt, completion, cost", [
    (1, 0, "0.00000000"),  # 0.000000005: half way, to the even 0
    (3, 0, "0.00000002"),  # 0.000000015: half way, to the even 2
    (0, 1, "0.00000002"),  # 0.000000015
    (1, 3, "0.00000005"),  # 0.000000005 + 0.000000045: rounded once, not part by part (0.00000004)
])
def test_cost_is_rounded_once_to_the_nearest_hundred_millionth_half_to_even(prices, prompt, completion, cost):
    exact = prices.cost("half", Usage(prompt, completion))
    assert exact == Decimal(cost) and exact.as_tuple().exponent == -8


def test_a_family_price_applies_to_every_model_its_prefix_names(prices):
    assert prices.price("family-large") == prices.price("family-") != prices.price("exact")
    assert prices.cost("family-large", Usage(1_000_000, 1_000_000)) == Decimal("4.00000000")
    assert prices.price("famil") is None and prices.price("family") is None  # the prefix is all but the "*"


def test_a_model_with_no_price_costs_zero_to_eight_places(prices):
    assert prices.price("unknown") is None
    free = prices.cost("unknown", Usage(1000, 1000))
    assert free == 0 and free.as_tuple().exponent == -8


def test_the_shipped_table_is_read_when_no_file_is_given():
    table = PriceTable.from_file()
    assert table.meta["currency"] == "EUR" and "models" not in table.meta
    assert table.price("gpt-4o").input == Decimal("2.15")
    assert table.price("mock-anything") is not None
