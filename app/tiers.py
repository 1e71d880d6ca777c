"""The four tiers and what each allows (DESIGN.md › Tiers)."""
from __future__ import annotations

from dataclasses import dataclass

TIER_NAMES = ("free", "starter", "pro", "healthcare")


@dataclass(frozen=True)
class Tier:
    name: str
    monthly_requests: int
    requests_per_minute: int
    all_models: bool  # False: only models marked cheap in the registry
    analytics: bool = True  # request history, costs of any range and split (False: this month's, unsplit)


TIERS = {
    "free": Tier("free", 500, 5, all_models=False, analytics=False),
    "starter": Tier("starter", 100_000, 100, all_models=True),
    "pro": Tier("pro", 1_000_000, 1_000, all_models=True),
    "healthcare": Tier("healthcare", 1_000_000, 1_000, all_models=True),
}
