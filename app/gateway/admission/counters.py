"""Admission's counters in one step: the rate window, the monthly quotas, the loop history, the budgets.

Every chat request reads and updates four kinds of counter before it may go
upstream. With Redis they are one Lua script, so admission costs one round trip
and the counters move together atomically: the rate window takes a slot, both
quotas are counted if both have room, the request joins its loop history, and
the hard-stop budgets' spend is read. Embedded, the same steps run in process
and in the database. What to refuse is decided by ``admission`` from the
``Tally``; counting never refuses on its own.

If Redis is unreachable the request is refused (503 ``quota_unavailable``): a
quota of N must never admit N + 1, and counting nothing would admit anything.
A quota counter Redis does not have is rebuilt from the request log first
(``rebuild``), before the rate window is touched; while another process
rebuilds it the request is refused (503 ``counters_rebuilding``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import peewee
import redis

import storage.quotas as quota_counters
from app.gateway.admission.quotas import (
    MONTHLY_TTL,
    RESERVE_FUNCTION,
    RedisQuotaCounter,
    Reservation,
    quota_unavailable,
)
from app.gateway.admission.quotas import seed as quota_seed
from app.gateway.admission.rate_limits import MemoryRateWindows, RateWindow, window_after
from app.gateway.admission.rebuild import CounterRebuilder
from app.gateway.budgets import RedisSpendCounter
from app.gateway.loops.detector import (
    RECORD_FUNCTION,
    History,
    LoopThresholds,
    MemoryLoopStore,
    RedisLoopStore,
)
from app.gateway.loops.similarity import RequestSummary
from storage.budgets import BudgetRecord


@dataclass(frozen=True)
class Counting:
    """What one request is counted against."""

    key_id: str
    rate_limit: int  # requests per window
    window_seconds: float
    quotas: dict[str, int]  # scope -> its monthly limit
    period: str  # the month, "2026-11"
    loop_subject: str
    summary: RequestSummary | None  # None: loop detection is off for this key
    thresholds: LoopThresholds
    budgets: tuple[BudgetRecord, ...]  # the hard-stop budgets whose spend to read
    now: float  # seconds since the epoch
    user_id: str  # the key's account


@dataclass(frozen=True)
class Tally:
    """What counting found. Counting stops at the first counter that is full."""

    rate: RateWindow
    rate_admitted: bool
    full_quota: str | None = None  # the first scope at its limit
    reservation: Reservation | None = None  # set when the quotas counted the request
    history: History | None = None  # the loop history with this request, if it was recorded
    spent: tuple[int | None, ...] = ()  # per budget, None where not seeded yet; () when not read here


class AdmissionCounters:
    def count(self, counting: Counting) -> Tally:
        raise NotImplementedError


# KEYS: rate window, the quota counters, [loop history, episode flag,] budget spends.
# ARGV: now (ms), rate limit, window (ms), quota TTL, number of quotas, their limits,
# then 1 and record_request's arguments, or 0.
# Returns {2, indexes} when quota counters are missing (nothing counted: rebuild them, run
# again); {1, counted, oldest} when the rate window is full; otherwise
# {0, counted, oldest, full quota index or 0, quota counts, loop reply or 0, spends}.
_ADMIT = RESERVE_FUNCTION + RECORD_FUNCTION + """
local quotas = tonumber(ARGV[5])
local missing = {}
for i = 1, quotas do
  if redis.call('EXISTS', KEYS[1 + i]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then return {2, missing} end

local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, expired = KEYS[1], now - window
local newest = redis.call('LINDEX', rate, 0)
if newest and tonumber(newest) <= expired then
  redis.call('DEL', rate)
else
  while true do
    local oldest = redis.call('LINDEX', rate, -1)
    if not oldest or tonumber(oldest) > expired then break end
    redis.call('RPOP', rate)
  end
end
local counted = redis.call('LLEN', rate)
if counted >= limit then return {1, counted, redis.call('LINDEX', rate, -1)} end
redis.call('LPUSH', rate, now)
redis.call('PEXPIRE', rate, window)
counted = counted + 1
local oldest = redis.call('LINDEX', rate, -1)

local full, used = reserve({unpack(KEYS, 2, 1 + quotas)}, {unpack(ARGV, 6, 5 + quotas)}, ARGV[4])
if full > 0 then return {0, counted, oldest, full, {}, 0, {}} end

local next_key, next_arg, loop = 2 + quotas, 6 + quotas, 0
if ARGV[next_arg] == '1' then
  loop = record_request(KEYS[next_key], KEYS[next_key + 1], ARGV[next_arg + 1],
                        tonumber(ARGV[next_arg + 2]), tonumber(ARGV[next_arg + 3]), ARGV[next_arg + 4])
  next_key = next_key + 2
end
local spends = {}
for i = next_key, #KEYS do spends[#spends + 1] = redis.call('GET', KEYS[i]) or false end
return {0, counted, oldest, 0, used, loop, spends}
"""


class RedisAdmissionCounters(AdmissionCounters):
    """Every counter in one Lua script: one round trip per request."""

    def __init__(self, client: redis.Redis, quotas: RedisQuotaCounter, loops: RedisLoopStore,
                 spend: RedisSpendCounter, rebuilder: CounterRebuilder, prefix: str):
        self.quotas = quotas
        self.rebuilder = rebuilder
        self.loops = loops
        self.spend = spend
        self.prefix = prefix
        self._script = client.register_script(_ADMIT)

    def count(self, counting: Counting) -> Tally:
        window_ms = max(1, int(counting.window_seconds * 1000))
        keys = [f"{self.prefix}{counting.key_id}", *self.quotas.keys(counting.quotas, counting.period)]
        args = [int(counting.now * 1000), counting.rate_limit, window_ms, MONTHLY_TTL,
                len(counting.quotas), *counting.quotas.values()]
        if counting.summary is not None:
            keys += self.loops.keys(counting.loop_subject)
            args += [1, *RedisLoopStore.record_args(counting.summary, counting.thresholds.window_seconds,
                                                    counting.thresholds.history_limit)]
        else:
            args.append(0)
        keys += [self.spend.key(budget, counting.period) for budget in counting.budgets]
        try:
            reply = self._script(keys=keys, args=args)
            if reply[0] == 2:  # a month's counters Redis does not have: rebuild, count again
                self.rebuild(counting, reply[1])
                reply = self._script(keys=keys, args=args)
        except (redis.RedisError, peewee.PeeweeException) as exc:
            raise quota_unavailable(exc) from exc
        if reply[0] == 2:  # lost again at once: Redis is being flushed under us
            raise quota_unavailable(RuntimeError("quota counters vanished while being rebuilt"))
        refused_by_rate, counted, oldest = reply[:3]
        rate = window_after(counting.rate_limit, int(counted), int(oldest) / 1000,
                            counting.window_seconds)
        if refused_by_rate:
            return Tally(rate, rate_admitted=False)
        full, used, loop, spends = reply[3:]
        scopes = tuple(counting.quotas)
        if full:
            return Tally(rate, True, full_quota=scopes[int(full) - 1])
        return Tally(rate, True,
                     reservation=Reservation(scopes, counting.period, tuple(counting.quotas.values()),
                                             tuple(int(n) for n in used)),
                     history=RedisLoopStore.history(loop) if loop else None,
                     spent=tuple(None if value is None else int(value) for value in spends))

    def rebuild(self, counting: Counting, missing: list[int]) -> None:
        """Set the quota counters at these 1-based indexes from the request log."""
        scopes = [tuple(counting.quotas)[int(index) - 1] for index in missing]
        keys = self.quotas.keys(scopes, counting.period)
        self.rebuilder.rebuild({key: partial(quota_seed, scope, counting.user_id, counting.period)
                                for key, scope in zip(keys, scopes)})


class LocalAdmissionCounters(AdmissionCounters):
    """The embedded mode: the rate window and loop history in process, quotas in the database."""

    def __init__(self, windows: MemoryRateWindows, loops: MemoryLoopStore):
        self.windows = windows
        self.loops = loops

    def count(self, counting: Counting) -> Tally:
        admitted, rate = self.windows.hit(counting.key_id, counting.rate_limit,
                                          counting.window_seconds, counting.now)
        if not admitted:
            return Tally(rate, rate_admitted=False)
        full, used = quota_counters.reserve(counting.quotas, counting.period)
        if full is not None:
            return Tally(rate, True, full_quota=full)
        history = None
        if counting.summary is not None:
            history = self.loops.record(counting.loop_subject, counting.summary,
                                        counting.thresholds.window_seconds,
                                        counting.thresholds.history_limit)
        return Tally(rate, True, reservation=Reservation(tuple(counting.quotas), counting.period,
                                                         tuple(counting.quotas.values()), tuple(used)),
                     history=history)
