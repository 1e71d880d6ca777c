"""Monthly request quotas, exact across every gateway process.

A request is counted against its key's quota and its account's quota at once,
and admitted only while both are below their limits: with Redis, one Lua script
(atomic on the server, one round trip); without Redis, conditional UPDATEs in
one database transaction. Counting happens before the provider is called, and a
request that is then refused (loop) or fails upstream before any token is
released again, so it does not use quota.

When Redis is configured but unreachable, quotas fail closed (503): admitting
unknown amounts of traffic would break the promise that a quota of N admits N.
A month's counter that Redis does not have (its first use, or Redis lost it) is
rebuilt from the request log before counting (``rebuild``; ``seed`` counts).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

import storage.quotas as quota_counters
import storage.requests as requests_repo
from app.errors import AqtaError, ServiceUnavailable

log = logging.getLogger(__name__)
MONTHLY_TTL = 40 * 86400  # seconds a month's Redis counters and marks are kept

# A Lua function of admission's one-round-trip script (``counters``): count one
# request on every counter if all are below their limits. Returns 0 and the counts after
# this request, or the 1-based index of the first counter at its limit.
RESERVE_FUNCTION = """
local function reserve(keys, limits, ttl)
  for i, key in ipairs(keys) do
    if tonumber(redis.call('GET', key) or '0') >= tonumber(limits[i]) then return i, {} end
  end
  local counts = {}
  for i, key in ipairs(keys) do
    counts[i] = redis.call('INCR', key)
    if counts[i] == 1 then redis.call('EXPIRE', key, ttl) end
  end
  return 0, counts
end
"""
# Give a request back on every counter Redis still has; a counter it lost is rebuilt from the
# log (``rebuild``), and a DECR would bring it back as -1 instead.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
"""
ALERT_PERCENTS = (80, 100)  # quota.threshold_reached fires when a month's count reaches these


class QuotaExceeded(AqtaError):
    status = 402
    code = "quota_exceeded"


@dataclass(frozen=True)
class Reservation:
    """One request counted; hand it back with ``QuotaCounter.release`` if it must not count."""

    scopes: tuple[str, ...]
    period: str
    limits: tuple[int, ...]  # each scope's quota
    used: tuple[int, ...]  # each scope's count, this request included

    def thresholds_reached(self) -> list[tuple[str, int, int, int]]:
        """(scope, percent, quota, used) for each alert line this very request reached."""
        return [(scope, percent, limit, used)
                for scope, limit, used in zip(self.scopes, self.limits, self.used)
                for percent in ALERT_PERCENTS if used == -(-limit * percent // 100)]


def current_period(now: datetime | None = None) -> str:
    """The UTC month of ``now`` (default: this instant), whatever zone it is given in.

    A naive ``now`` is read as the host's local time, so the month is UTC's even on a host
    that does not run on UTC.
    """
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m")


def month_start(period: str) -> datetime:
    year, month = map(int, period.split("-"))
    return datetime(year, month, 1, tzinfo=UTC)


def next_period_start(period: str) -> datetime:
    year, month = map(int, period.split("-"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def key_scope(key_id: str) -> str:
    return f"key:{key_id}"


def account_scope(user_id: str) -> str:
    return f"account:{user_id}"


def quota_limits(key_id: str, user_id: str, key_quota: int, account_quota: int) -> dict[str, int]:
    """Each scope a request counts against, with its monthly limit."""
    return {key_scope(key_id): key_quota, account_scope(user_id): account_quota}


def seed(scope: str, user_id: str, period: str) -> int:
    """The scope's (an account's or a key's) requests this month so far, from the request log."""
    key_id = scope.removeprefix("key:") if scope.startswith("key:") else None
    return requests_repo.quota_used_since(user_id, month_start(period), key_id)


def quota_exceeded(limits: dict[str, int], full: str, period: str) -> QuotaExceeded:
    whose = "this key" if full.startswith("key:") else "this account"
    return QuotaExceeded(
        f"The monthly quota of {limits[full]:,} requests for {whose} is used up; "
        f"it resets at {next_period_start(period).isoformat().replace('+00:00', 'Z')}.")


def quota_unavailable(exc: Exception) -> ServiceUnavailable:
    log.warning("quota check failed, refusing the request: %s", exc)
    return ServiceUnavailable("Quota accounting is unavailable; retry shortly.",
                              code="quota_unavailable", headers={"Retry-After": "5"})


class QuotaCounter:
    """Give a counted request back, or read the counts; counting itself is admission's
    (``counters``)."""

    def used(self, scopes: list[str], period: str) -> list[int]:
        """Each scope's requests counted in ``period`` (for showing, not for admitting)."""
        raise NotImplementedError

    def release(self, reservation: Reservation) -> None:
        try:
            self._release(reservation)
        except Exception:  # giving back is best effort; never fail the response for it
            log.exception("could not release quota for %s", reservation.scopes)

    def _release(self, reservation: Reservation) -> None:
        raise NotImplementedError


class RedisQuotaCounter(QuotaCounter):
    def __init__(self, client: redis.Redis, prefix: str):
        self.client = client
        self.prefix = prefix
        self._release_script = client.register_script(_RELEASE)

    def keys(self, scopes, period: str) -> list[str]:
        return [f"{self.prefix}{period}:{scope}" for scope in scopes]

    def used(self, scopes, period):
        return [int(value or 0) for value in self.client.mget(self.keys(scopes, period))] \
            if scopes else []

    def _release(self, reservation: Reservation) -> None:
        self._release_script(keys=self.keys(reservation.scopes, reservation.period))


class DatabaseQuotaCounter(QuotaCounter):
    def used(self, scopes, period):
        return [quota_counters.used(scope, period) for scope in scopes]

    def _release(self, reservation: Reservation) -> None:
        quota_counters.release(list(reservation.scopes), reservation.period)
