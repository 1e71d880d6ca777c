"""Monthly budgets as their owner manages them: list with this month's spend, set, remove.

The JSON API (app.api.budgets) and the dashboard's Budgets page both call these.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import storage.budgets as budgets_repo
import storage.keys as keys_repo
from app.gateway.budgets import spend_counter
from app.gateway.quotas import current_period
from storage.budgets import BudgetRecord
from storage.money import to_eur


@dataclass(frozen=True)
class BudgetStatus:
    """A budget and what its scope spent in ``month``."""

    key_id: str | None
    monthly_eur: Decimal
    thresholds: list[int]
    hard_stop: bool
    spent_eur: Decimal
    month: str

    @property
    def spent_percent(self) -> Decimal:
        return (self.spent_eur * 100 / self.monthly_eur).quantize(Decimal("0.1"))


def status(budget: BudgetRecord, period: str) -> BudgetStatus:
    spent = spend_counter().spent((budget,), period)[0]
    return BudgetStatus(budget.key_id, budget.monthly_eur, list(budget.thresholds),
                        budget.hard_stop, to_eur(spent), period)


def account_budgets(user_id: str) -> tuple[str, list[BudgetStatus]]:
    """This month, and the account's budget and its keys' budgets with their spend."""
    period = current_period()
    return period, [status(budget, period) for budget in budgets_repo.for_account(user_id)]


def set_budget(user_id: str, key_id: str | None, monthly_eur: Decimal | None,
               thresholds: list[int], hard_stop: bool) -> BudgetStatus | None:
    """Set the account's (key_id None) or a key's budget; monthly_eur None removes it."""
    if key_id:
        keys_repo.get_for_user(user_id, key_id)  # 404 for another user's key
    if monthly_eur is None:
        budgets_repo.remove(user_id, key_id)
        return None
    budget = budgets_repo.put(user_id, key_id, monthly_eur, tuple(sorted(set(thresholds))), hard_stop)
    return status(budget, current_period())
