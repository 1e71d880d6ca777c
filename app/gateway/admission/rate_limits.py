"""Per-key rate limits: a moving window over the last minute's requests, exact across processes.

A key may make ``rpm`` requests in any window of ``RATE_LIMIT_WINDOW_SECONDS``: a
moving window, so there is no burst at a window's edge. With Redis the window
is a list of request times counted in admission's single round trip (see
``counters``); embedded, it is a deque per key in process (one process serves
the embedded mode). Either way only admitted-by-rate requests take a slot, and
the list never holds more than ``rpm`` entries.

The check runs inside the chat view, after authentication, validation and the
model-access check, in the order the admission rules give. Responses carry
X-RateLimit-Limit, -Remaining and -Reset; a refusal is 429
``rate_limit_exceeded`` with Retry-After.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from flask import Flask, g

from app.errors import AqtaError
from app.tiers import TIERS
from storage.records import ApiKeyRecord


def requests_per_minute(key: ApiKeyRecord) -> int:
    return key.rpm_limit if key.rpm_limit is not None else TIERS[key.tier].requests_per_minute


def monthly_quota(key: ApiKeyRecord) -> int:
    return key.monthly_quota if key.monthly_quota is not None else TIERS[key.tier].monthly_requests


@dataclass(frozen=True)
class RateWindow:
    """A key's window after a check: its limit, the slots left, and when the oldest slot frees."""

    limit: int
    remaining: int
    reset_at: float  # seconds since the epoch

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(math.ceil(self.reset_at))}


class RateLimited(AqtaError):
    status = 429
    code = "rate_limit_exceeded"

    def __init__(self, window: RateWindow, rpm: int, now: float):
        retry_after = max(1, math.ceil(window.reset_at - now))
        super().__init__(f"Rate limit of {rpm} requests per minute reached for this key; "
                         "retry after the time in the Retry-After header.",
                         headers={**window.headers(), "Retry-After": str(retry_after)})


def window_after(limit: int, counted: int, oldest: float, window_seconds: float) -> RateWindow:
    """The window once ``counted`` requests (this one included, if admitted) are in it."""
    return RateWindow(limit, max(0, limit - counted), oldest + window_seconds)


class MemoryRateWindows:
    """The embedded mode's windows: request times per key, at most ``max_keys`` keys kept.

    A lock guards the maps and nothing inside it blocks, so it is safe for threads
    and gevent's greenlets alike.
    """

    def __init__(self, max_keys: int = 10_000):
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._windows: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key_id: str, limit: int, window_seconds: float, now: float) -> tuple[bool, RateWindow]:
        """Take a slot if one is free: (admitted, the window after)."""
        with self._lock:
            times = self._windows.pop(key_id, None) or deque()
            while times and times[0] <= now - window_seconds:
                times.popleft()
            admitted = len(times) < limit
            if admitted:
                times.append(now)
            while len(times) > limit:  # the limit was lowered: keep the newest
                times.popleft()
            self._windows[key_id] = times
            while len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
            oldest = times[0] if times else now
            return admitted, window_after(limit, len(times), oldest, window_seconds)


def add_rate_headers(response):
    window = g.get("rate_window")
    if window is not None:
        response.headers.update(window.headers())
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_rate_headers)
