"""Monthly budgets in EUR: enforced before the provider, spent after it, alerts once a month.

A budget (per account or per key) lives in the database and rides along with the
API key's cached lookup, so the hot path reads no table for it. What a scope has
spent this month lives in Redis (``INCRBY`` of integer micro-cents: one atomic
step per answered request) or, in the embedded mode, in database counters with
an in-process copy. Because each addition is atomic and returns the new total,
exactly one request crosses each alert threshold, so each threshold fires once
a month even under concurrent requests; ``alert_once`` keeps it once even if a
counter is ever rebuilt.

A hard-stop budget refuses requests once spent (402 ``budget_exceeded``). The
check happens before the call and the spend is added after it, so concurrent
requests already in flight when the budget runs out can finish: a budget stops
new spending, it cannot claw back the last in-flight answers.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import peewee
import redis
from flask import Flask, current_app

import storage.budgets as budgets_repo
import storage.keys as keys_repo
import storage.requests as requests_repo
from app.errors import AqtaError
from app.gateway.admission.alerts import alert_once
from app.gateway.admission.quotas import MONTHLY_TTL, current_period, month_start
from app.gateway.admission.rebuild import CounterRebuilder
from app.healthcare import audit
from app.redis_keys import RedisKeys
from storage.budgets import BudgetRecord
from storage.money import to_eur, to_microcents
from storage.records import ApiKeyRecord

log = logging.getLogger(__name__)


class BudgetExceeded(AqtaError):
    status = 402
    code = "budget_exceeded"


def seed(budget: BudgetRecord, period: str) -> int:
    """What the budget's scope spent this month so far, from the request log."""
    return requests_repo.spent_since(budget.user_id, month_start(period), budget.key_id)


class SpendCounter:
    """Micro-cents spent per scope and month; backends fill ``spent`` and ``add``."""

    def spent(self, budgets: tuple[BudgetRecord, ...], period: str) -> list[int]:
        raise NotImplementedError

    def add(self, budgets: tuple[BudgetRecord, ...], period: str, microcents: int) -> list[int]:
        """Add to every budget's scope; return the new totals, in order."""
        raise NotImplementedError


class RedisSpendCounter(SpendCounter):
    def __init__(self, client: redis.Redis, rebuilder: CounterRebuilder, prefix: str):
        self.client = client
        self.rebuilder = rebuilder
        self.prefix = prefix

    def key(self, budget: BudgetRecord, period: str) -> str:
        return f"{self.prefix}{period}:{budget.scope}"

    def spent(self, budgets, period):
        keys = [self.key(budget, period) for budget in budgets]
        values = self.client.mget(keys)
        # First use this month, or Redis lost it: rebuild from the log.
        missing = {key: partial(seed, budget, period)
                   for key, budget, value in zip(keys, budgets, values) if value is None}
        if missing:
            rebuilt = dict(zip(missing, self.rebuilder.rebuild(missing)))
            values = [rebuilt.get(key, value) for key, value in zip(keys, values)]
        return [int(value) for value in values]

    def add(self, budgets, period, microcents):
        pipe = self.client.pipeline(transaction=False)
        for budget in budgets:
            pipe.incrby(self.key(budget, period), microcents)
            pipe.expire(self.key(budget, period), MONTHLY_TTL)
        return pipe.execute()[::2]


class DatabaseSpendCounter(SpendCounter):
    """The embedded mode's counters: in the database, read once into process memory."""

    def __init__(self):
        self._known: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def spent(self, budgets, period):
        totals = []
        for budget in budgets:
            known = self._known.get((budget.scope, period))
            if known is None:
                known = budgets_repo.spent(budget.scope, period)
                if known == 0:
                    known = budgets_repo.add_spend(budget.scope, period, seed(budget, period))
                self._known[(budget.scope, period)] = known
            totals.append(known)
        return totals

    def add(self, budgets, period, microcents):
        totals = []
        for budget in budgets:
            self.spent((budget,), period)
            total = budgets_repo.add_spend(budget.scope, period, microcents)
            with self._lock:
                self._known[(budget.scope, period)] = total
            totals.append(total)
        return totals


def init_app(app: Flask) -> None:
    client = app.extensions["aqta.redis"]
    keys = RedisKeys(app.config["AQTA_SETTINGS"].redis_key_prefix)
    app.extensions["aqta.spend"] = (
        RedisSpendCounter(client, CounterRebuilder(client, keys.rebuilding), keys.spend) if client
        else DatabaseSpendCounter())


def spend_counter() -> SpendCounter:
    return current_app.extensions["aqta.spend"]


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


def budget_status(budget: BudgetRecord, period: str) -> BudgetStatus:
    spent = spend_counter().spent((budget,), period)[0]
    return BudgetStatus(budget.key_id, budget.monthly_eur, list(budget.thresholds),
                        budget.hard_stop, to_eur(spent), period)


def account_budgets(user_id: str) -> tuple[str, list[BudgetStatus]]:
    """This month, and the account's budget and its keys' budgets with their spend."""
    period = current_period()
    return period, [budget_status(budget, period) for budget in budgets_repo.for_account(user_id)]


def set_budget(user_id: str, key_id: str | None, monthly_eur: Decimal | None,
               thresholds: list[int], hard_stop: bool) -> BudgetStatus | None:
    """Set the account's (key_id None) or a key's budget; monthly_eur None removes it."""
    if key_id:
        keys_repo.get_for_user(user_id, key_id)  # 404 for another user's key
    # A budget is named by what it limits: the key, or the account itself.
    audited = {"account_id": user_id, "entity_type": audit.BUDGET, "entity_id": key_id or user_id}
    if monthly_eur is None:
        budgets_repo.remove(user_id, key_id)
        audit.record(audit.BUDGET_CHANGED, audit.DELETE, **audited)
        return None
    budget = budgets_repo.put(user_id, key_id, monthly_eur, tuple(sorted(set(thresholds))), hard_stop)
    audit.record(audit.BUDGET_CHANGED, audit.UPDATE, **audited, detail={"hard_stop": hard_stop})
    return budget_status(budget, current_period())


def hard_stops(key: ApiKeyRecord) -> tuple[BudgetRecord, ...]:
    return tuple(b for b in key.budgets if b.hard_stop)


def enforce(key: ApiKeyRecord, known: tuple[int | None, ...] = ()) -> None:
    """Refuse the request when a hard-stop budget of its account or key is spent.

    ``known``: each hard stop's spend this month when the caller already read it
    (admission's round trip); a None among them means "not counted yet": look it up.
    """
    stopping = hard_stops(key)
    if not stopping:
        return
    period = current_period()
    try:
        totals = (known if len(known) == len(stopping) and None not in known
                  else spend_counter().spent(stopping, period))
    except (redis.RedisError, peewee.PeeweeException) as exc:
        log.warning("budget check skipped, Redis unavailable: %s", exc)
        return
    for budget, total in zip(stopping, totals):
        if total >= to_microcents(budget.monthly_eur):
            whose = "this key" if budget.key_id else "this account"
            raise BudgetExceeded(f"The monthly budget of {budget.monthly_eur} EUR for {whose} "
                                 f"is spent ({to_eur(total)} EUR); it resets on the 1st (UTC).")


def spend(key: ApiKeyRecord, cost: Decimal) -> None:
    """Add an answer's cost to its budgets; alert each threshold crossed, once a month."""
    if not key.budgets or not cost:
        return
    period = current_period()
    microcents = to_microcents(cost)
    counter = spend_counter()
    try:
        totals = counter.add(key.budgets, period, microcents)
    except (redis.RedisError, peewee.PeeweeException) as exc:
        # The answer is paid for and on its way: never fail it for the counter. The request
        # log still has its cost, and a rebuilt counter starts from the log.
        log.warning("budget spend not counted: %s", exc)
        return
    for budget, total in zip(key.budgets, totals):
        limit = to_microcents(budget.monthly_eur)
        before = total - microcents
        for percent in budget.thresholds:
            line = limit * percent // 100
            if before < line <= total:
                data = {"scope": "key" if budget.key_id else "account",
                        "budget_eur": str(budget.monthly_eur), "spent_eur": str(to_eur(total)),
                        "threshold_percent": percent, "month": period}
                if budget.key_id:
                    data["key_id"] = budget.key_id
                alert_once(f"budget:{period}:{budget.scope}:{percent}",
                           "budget.exceeded" if percent >= 100 else "budget.threshold_reached",
                           budget.user_id, data)
