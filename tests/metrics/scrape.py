"""Reading a /metrics page: each sample's value by name and labels, and the change between two."""
from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def samples(page: str) -> dict[tuple, float]:
    """{(sample name, sorted label pairs): value} for every sample on the page."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(page) for sample in family.samples}


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    """How much the sample ``name`` with exactly ``labels`` grew between two scrapes."""
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def moved_by_labels(before: dict, after: dict, name: str, label: str) -> Counter:
    """Growth of ``name`` summed by one label's value (over the other labels), zeros left out."""
    growth: Counter = Counter()
    for key, value in after.items():
        if key[0] == name:
            change = value - before.get(key, 0.0)
            if change:
                growth[dict(key[1]).get(label, "")] += change
    return growth
