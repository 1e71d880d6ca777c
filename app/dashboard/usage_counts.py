"""This month's request counts against the quotas, as the Keys and Usage pages show them."""
from __future__ import annotations

from dataclasses import dataclass

from app.gateway.admission.admit import quota_counter
from app.gateway.admission.quotas import account_scope, current_period, key_scope
from app.gateway.admission.rate_limits import monthly_quota, requests_per_minute
from app.tiers import TIERS, Tier
from storage.records import ApiKeyRecord


@dataclass(frozen=True)
class KeyUsage:
    key: ApiKeyRecord
    used: int  # requests counted this month
    monthly_quota: int
    rpm: int


@dataclass(frozen=True)
class MonthUsage:
    month: str  # YYYY-MM
    tier: Tier
    used: int  # the account's requests this month
    keys: list[KeyUsage]

    @property
    def percent(self) -> int:
        return min(100, self.used * 100 // self.tier.monthly_requests)


def month_usage(user_id: str, tier: str, keys: list[ApiKeyRecord]) -> MonthUsage:
    """The account's and each key's requests this month, read from the quota counters."""
    period = current_period()
    counts = quota_counter().used([account_scope(user_id)] + [key_scope(k.id) for k in keys],
                                  period)
    per_key = [KeyUsage(key, used, monthly_quota(key), requests_per_minute(key))
               for key, used in zip(keys, counts[1:])]
    return MonthUsage(period, TIERS[tier], counts[0], per_key)


def key_names(keys: list[ApiKeyRecord]) -> dict[str, str]:
    """How pages name each key: its name and last four characters."""
    return {key.id: f"{key.name} …{key.last_four}" for key in keys}
