"""The budgets repository, and the database spend counters of the embedded mode."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import peewee

from storage.budget_models import Budget, SpendCounter
from storage.ids import new_id, utcnow
from storage.models import database_proxy
from storage.money import to_eur, to_microcents


@dataclass(frozen=True)
class BudgetRecord:
    user_id: str
    key_id: str | None  # None: the whole account
    monthly_eur: Decimal
    thresholds: tuple[int, ...]  # percents of the budget that raise an alert, ascending
    hard_stop: bool  # refuse requests (402 budget_exceeded) once the budget is spent
    updated_at: datetime

    @property
    def scope(self) -> str:
        return f"key:{self.key_id}" if self.key_id else f"account:{self.user_id}"


def _record(budget: Budget) -> BudgetRecord:
    return BudgetRecord(user_id=budget.user_id, key_id=budget.key_id or None,
                        monthly_eur=to_eur(budget.monthly_microcents),
                        thresholds=tuple(int(p) for p in budget.thresholds.split(",") if p),
                        hard_stop=budget.hard_stop, updated_at=budget.updated_at)


def for_account(user_id: str) -> list[BudgetRecord]:
    """The account's budget and its keys' budgets."""
    query = Budget.select().where(Budget.user_id == user_id).order_by(Budget.key_id)
    return [_record(budget) for budget in query]


def applying_to(user_id: str, key_id: str) -> list[BudgetRecord]:
    """The budgets a request with this key counts against: the account's and the key's."""
    query = Budget.select().where((Budget.user_id == user_id) & Budget.key_id.in_(["", key_id]))
    # Account first, then key: every request updates its counters in this one order.
    return [_record(budget) for budget in query.order_by(Budget.key_id)]


def put(user_id: str, key_id: str | None, monthly_eur: Decimal, thresholds: tuple[int, ...],
        hard_stop: bool) -> BudgetRecord:
    values = {"monthly_microcents": to_microcents(monthly_eur),
              "thresholds": ",".join(str(p) for p in thresholds), "hard_stop": hard_stop,
              "updated_at": utcnow()}
    with database_proxy.atomic():
        updated = (Budget.update(**values)
                   .where((Budget.user_id == user_id) & (Budget.key_id == (key_id or "")))
                   .execute())
        if not updated:
            Budget.create(id=new_id("bdg"), user_id=user_id, key_id=key_id or "", **values)
    return next(b for b in applying_to(user_id, key_id or "") if b.key_id == key_id)


def remove(user_id: str, key_id: str | None) -> bool:
    return bool(Budget.delete()
                .where((Budget.user_id == user_id) & (Budget.key_id == (key_id or "")))
                .execute())


def add_spend(scope: str, period: str, microcents: int) -> int:
    """Add to a scope's month and return the new total, this addition's own (embedded mode).

    The row exists before the transaction (an insert inside it takes gap locks that
    deadlock concurrent adders on MySQL); the UPDATE's row lock, held to the commit,
    keeps the total read back free of anyone else's addition.
    """
    try:
        SpendCounter.insert(scope=scope, period=period, microcents=0).on_conflict_ignore().execute()
    except peewee.IntegrityError:
        pass
    with database_proxy.atomic():
        SpendCounter.update(microcents=SpendCounter.microcents + microcents).where(
            (SpendCounter.scope == scope) & (SpendCounter.period == period)).execute()
        return spent(scope, period)


def spent(scope: str, period: str) -> int:
    row = SpendCounter.get_or_none((SpendCounter.scope == scope) & (SpendCounter.period == period))
    return row.microcents if row else 0
