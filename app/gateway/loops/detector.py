"""Loop detection: refuse an agent stuck repeating itself before the request reaches (and bills) a provider.

Each key has a short history of its recent requests (see ``loop_similarity`` for
what is kept). A request is refused when, within the window, it is

* ``repeat``: the exact same request, ``repeat_count`` times;
* ``near_duplicate``: the same newest turn (up to timestamps, counters, ids and
  the model's rewording), ``near_duplicate_count`` times;
* ``cycle``: the end of a short cycle (A,B,A,B,... or A,B,C,A,B,C,...) repeated
  ``cycle_repeats`` times.

What must not look like a loop: a user asking twice (below every count); a retry
after an upstream error (the hot path ``discard``s the failed request); sessions
sharing a system prompt (only the newest turn is compared); sampling several
answers or running a batch (requests with the same newest turn in flight at the
same time count once, and ``n`` > 1 is one request). Sequential repeats count
however fast they come: the hot path marks each request ``finish``ed before its
answer's last byte leaves, so an agent that repeats a request after its answer
(from a fast upstream or the cache) is counted every time.

The history lives in a ``LoopStore``: ``MemoryLoopStore`` in process (embedded
mode) or ``RedisLoopStore``, shared by every gateway process. A store that is
unavailable never fails a request: the check is skipped and logged.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Literal

import redis

from app.errors import AqtaError, error_body
from app.gateway.loops.similarity import (
    RequestSummary,
    decode_summary,
    find_cycle,
    near_duplicate,
    starts_a_round,
    summarise,
    summary_key,
)

log = logging.getLogger(__name__)
Pattern = Literal["repeat", "near_duplicate", "cycle"]
MAX_VERDICT_FINGERPRINTS = 16
MAX_HISTORY_LIMIT = 1000  # requests kept per key
MAX_WINDOW_SECONDS = 86_400  # one day


@dataclass(frozen=True)
class LoopThresholds:
    """When a key's recent requests count as a loop; the defaults are tuned on the test corpus."""

    enabled: bool = True  # False: the key's requests are neither checked nor recorded
    window_seconds: float = 60.0  # how far back a key's requests are compared
    repeat_count: int = 5  # identical requests, the current one included
    near_duplicate_count: int = 6  # requests with the same newest turn
    similarity: float = 0.9  # SimHash agreement for the model's answer to count as the same
    cycle_min_period: int = 2
    cycle_max_period: int = 4
    cycle_repeats: int = 3  # full turns of the cycle
    history_limit: int = 100  # the most recent requests kept per key

    def __post_init__(self):
        for name, kind in _THRESHOLD_TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind) \
                    or (kind is not int and not math.isfinite(value)):
                raise ValueError(f"{name} must be {_KIND_NAMES[kind]}")
        if self.history_limit > MAX_HISTORY_LIMIT:
            raise ValueError(f"history_limit must be at most {MAX_HISTORY_LIMIT}")
        if not 0 < self.window_seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"window_seconds must be above 0 and at most {MAX_WINDOW_SECONDS}")
        if min(self.repeat_count, self.near_duplicate_count, self.cycle_repeats) < 2:
            raise ValueError("repeat_count, near_duplicate_count and cycle_repeats must be at least 2")
        if not 0 < self.similarity <= 1:
            raise ValueError("similarity must be above 0 and at most 1")
        if not 2 <= self.cycle_min_period <= self.cycle_max_period:
            raise ValueError("cycle periods must satisfy 2 <= cycle_min_period <= cycle_max_period")
        if self.history_limit < max(self.repeat_count, self.near_duplicate_count,
                                    self.cycle_max_period * self.cycle_repeats):
            raise ValueError("history_limit is too small to see the loops the counts describe")


_THRESHOLD_TYPES = {"enabled": bool, "window_seconds": (int, float), "repeat_count": int,
                    "near_duplicate_count": int, "similarity": (int, float), "cycle_min_period": int,
                    "cycle_max_period": int, "cycle_repeats": int, "history_limit": int}
_KIND_NAMES = {bool: "true or false", int: "an integer", (int, float): "a number"}
# LoopThresholds as a JSON Schema, for the API's documentation (the rules across fields are
# in __post_init__).
THRESHOLDS_SCHEMA = {"additionalProperties": False, "properties": {
    "enabled": {"type": "boolean"},
    "window_seconds": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                       "maximum": MAX_WINDOW_SECONDS},
    "repeat_count": {"type": "integer", "minimum": 2},
    "near_duplicate_count": {"type": "integer", "minimum": 2},
    "similarity": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1},
    "cycle_min_period": {"type": "integer", "minimum": 2},
    "cycle_max_period": {"type": "integer", "minimum": 2},
    "cycle_repeats": {"type": "integer", "minimum": 2},
    "history_limit": {"type": "integer", "minimum": 2, "maximum": MAX_HISTORY_LIMIT},
}}


# Thresholds a key may still have stored from earlier versions; ignored when read.
RETIRED_THRESHOLDS = ("burst_seconds",)  # parallel requests are now told by being in flight


def key_thresholds(defaults: LoopThresholds, settings: dict | None) -> LoopThresholds:
    """A key's stored thresholds over the defaults."""
    current = {name: value for name, value in (settings or {}).items() if name not in RETIRED_THRESHOLDS}
    return replace(defaults, **current) if current else defaults


@dataclass(frozen=True)
class LoopVerdict:
    """A detected loop: its pattern, how many requests it spans, and their fingerprints."""

    pattern: Pattern
    count: int
    window_seconds: float
    fingerprints: list[str] = field(default_factory=list)  # oldest first, at most 16
    episode_started: bool = False  # the first refusal since the caller last changed course
    period: int | None = None  # requests per turn of a cycle


class LoopDetected(AqtaError):
    """429 ``loop_detected``: refused before the provider, so not billed."""

    status = 429
    code = "loop_detected"

    def __init__(self, verdict: LoopVerdict, request_id: str | None = None):
        window = f"{verdict.window_seconds:g} seconds"
        if verdict.pattern == "repeat":
            what = f"the same request was sent {verdict.count} times in {window}"
        elif verdict.pattern == "near_duplicate":
            what = (f"{verdict.count} requests in {window} repeated the same newest turn "
                    "(differing only in timestamps, counters, ids or wording)")
        else:
            what = (f"the same {verdict.period} requests have repeated in a cycle "
                    f"({verdict.count} requests in {window})")
        # x-should-retry stops OpenAI's SDKs from re-sending what was refused as a loop.
        super().__init__(f"Loop detected: {what}. The request was not sent to the provider. "
                         "Change the request, or wait before repeating it.",
                         headers={"x-should-retry": "false"})
        self.verdict = verdict
        self.request_id = request_id

    def body(self) -> dict:
        aqta = {"loop_detected": True, "pattern": self.verdict.pattern, "count": self.verdict.count,
                "window_seconds": self.verdict.window_seconds}
        if self.request_id:
            aqta["request_id"] = self.request_id
        return {**error_body(self.message, self.code, self.status), "aqta": aqta}


def evaluate(history: list[RequestSummary], thresholds: LoopThresholds) -> LoopVerdict | None:
    """Whether the newest request of ``history`` (oldest first) completes a loop."""
    current = history[-1]
    if current.joined:
        return None
    # A request that joined one in flight (parallel sampling, a batch) counts as that one.
    recent = [s for s in history if s.at > current.at - thresholds.window_seconds and not s.joined]

    def verdict(pattern: Pattern, count: int, members: list[RequestSummary], period=None):
        fingerprints = list(dict.fromkeys(s.fingerprint for s in members))
        return LoopVerdict(pattern, count, thresholds.window_seconds,
                           fingerprints[-MAX_VERDICT_FINGERPRINTS:], period=period)

    same = [s for s in recent if s.fingerprint == current.fingerprint]
    if len(same) >= thresholds.repeat_count:
        return verdict("repeat", len(same), same)
    cycle = find_cycle([s.tail for s in recent], thresholds.cycle_min_period,
                       thresholds.cycle_max_period, thresholds.cycle_repeats)
    if cycle is not None:
        period, span = cycle
        return verdict("cycle", span, recent[-span:], period)
    if current.simhash is None:  # no answer to compare: only the same newest turn is near
        near = [s for s in recent if s.tail == current.tail]
    else:
        near = [s for s in recent if near_duplicate(s, current, thresholds.similarity)]
    if len(near) >= thresholds.near_duplicate_count:
        return verdict("near_duplicate", len(near), near)
    return None


@dataclass(frozen=True)
class History:
    requests: list[RequestSummary]  # oldest first, the one just recorded last
    episode_open: bool


class LoopStore:
    """Per-key request histories and open episodes. Subclasses implement the five methods.

    A request is named by when it started and its fingerprint (``RequestSummary.key``).

    ``failures`` lists the exception types meaning "the store is unavailable".
    """

    failures: tuple[type[Exception], ...] = ()

    def record(self, key_id: str, summary: RequestSummary, window_seconds: float,
               limit: int) -> History:
        """Append a request (joined, when ``starts_a_round`` says so), forget those older than
        the window or beyond ``limit``, and return the rest."""
        raise NotImplementedError

    def open_episode(self, key_id: str, now: float, window_seconds: float) -> bool:
        """Mark a loop episode open (or keep it open); True only if this call opened it."""
        raise NotImplementedError

    def close_episode(self, key_id: str) -> None:
        raise NotImplementedError

    def finish(self, key_id: str, at: float, fingerprint: str) -> bool:
        """Mark a request answered; False if it is no longer in the history."""
        raise NotImplementedError

    def discard(self, key_id: str, at: float, fingerprint: str) -> bool:
        """Forget a request; False if there is none."""
        raise NotImplementedError

    def finish_command(self, key_id: str, at: float, fingerprint: str) -> tuple | None:
        """``finish`` as one Redis command, to send in another's round trip; None for a
        store that is not in Redis."""
        return None


class MemoryLoopStore(LoopStore):
    """Histories in process, for embedded mode: at most ``max_keys`` keys, least recently used dropped.

    A lock guards the maps and nothing inside it blocks, so it is safe for
    threads and gevent's greenlets alike.
    """

    def __init__(self, max_keys: int = 10_000):
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._histories: OrderedDict[str, deque[RequestSummary]] = OrderedDict()
        self._episodes: dict[str, float] = {}  # key -> when the episode lapses

    def record(self, key_id, summary, window_seconds, limit) -> History:
        with self._lock:
            history = self._histories.pop(key_id, None)
            if history is None or history.maxlen != limit:
                history = deque(history or (), maxlen=limit)
            while history and history[0].at < summary.at - window_seconds:
                history.popleft()
            if not starts_a_round(history, summary):
                summary = replace(summary, joined=True)
            history.append(summary)
            self._histories[key_id] = history
            while len(self._histories) > self.max_keys:
                evicted, _ = self._histories.popitem(last=False)
                self._episodes.pop(evicted, None)
            lapses = self._episodes.get(key_id)
            return History(list(history), lapses is not None and lapses > summary.at)

    def open_episode(self, key_id, now, window_seconds) -> bool:
        with self._lock:
            lapses = self._episodes.get(key_id)
            self._episodes[key_id] = now + window_seconds
            return lapses is None or lapses <= now

    def close_episode(self, key_id) -> None:
        with self._lock:
            self._episodes.pop(key_id, None)

    def finish(self, key_id, at, fingerprint) -> bool:
        with self._lock:
            index = self._find(key_id, at, fingerprint)
            if index is not None:
                history = self._histories[key_id]
                history[index] = replace(history[index], finished=True)
            return index is not None

    def discard(self, key_id, at, fingerprint) -> bool:
        with self._lock:
            index = self._find(key_id, at, fingerprint)
            if index is not None:
                del self._histories[key_id][index]
            return index is not None

    def _find(self, key_id: str, at: float, fingerprint: str) -> int | None:
        """The index of a request in its key's history, newest first (call under the lock)."""
        history = self._histories.get(key_id, ())
        for index in range(len(history) - 1, -1, -1):
            if history[index].at == at and history[index].fingerprint == fingerprint:
                return index
        return None


# A Lua function, shared with admission's one-round-trip script (``counters``): forget
# entries older than ``oldest``, append a request's summary (its state letter turned from
# S to J when a request with the same tail that started a round is in flight:
# ``starts_a_round``), forget entries beyond ``limit``, and return {the history, whether
# the episode flag exists}.
RECORD_FUNCTION = """
local function record_request(history, episode, summary, oldest, limit, ttl)
  while true do
    local head = redis.call('LINDEX', history, 0)
    local at = head and tonumber(string.match(head, '^(%S+)'))
    if not at or at >= oldest then break end
    redis.call('LPOP', history)
  end
  local tail = string.match(summary, '^%S+ %S+ (%S+)')
  for _, item in ipairs(redis.call('LRANGE', history, 0, -1)) do
    if string.sub(item, -1) == 'S' and string.match(item, '^%S+ %S+ (%S+)') == tail then
      summary = string.sub(summary, 1, -2) .. 'J'
      break
    end
  end
  redis.call('RPUSH', history, summary)
  redis.call('LTRIM', history, -limit, -1)
  redis.call('PEXPIRE', history, ttl)
  return {redis.call('LRANGE', history, 0, -1), redis.call('EXISTS', episode)}
end
"""
_RECORD = RECORD_FUNCTION + """
return record_request(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
"""
# KEYS: history list. ARGV: a request's key ("at fingerprint"), then "finish" (lower-case
# its state letter) or "discard" (remove it). Returns 1 when the request was there.
_MARK = """
local items, name = redis.call('LRANGE', KEYS[1], 0, -1), ARGV[1] .. ' '
for i = #items, 1, -1 do
  if string.sub(items[i], 1, #name) == name then
    if ARGV[2] == 'finish' then
      local state = string.lower(string.sub(items[i], -1))
      redis.call('LSET', KEYS[1], i - 1, string.sub(items[i], 1, -2) .. state)
    else
      redis.call('LSET', KEYS[1], i - 1, '-')
      redis.call('LREM', KEYS[1], 1, '-')
    end
    return 1
  end
end
return 0
"""


class RedisLoopStore(LoopStore):
    """Histories in Redis, shared by every gateway process: one round trip per check.

    A key's history is a list of encoded summaries under ``prefix{key}:h`` and its
    open episode a flag under ``prefix{key}:e`` (the braces keep both in one
    cluster slot); both expire after the window.
    """

    failures = (redis.RedisError,)

    def __init__(self, client: redis.Redis, prefix: str):
        self.client = client
        self.prefix = prefix  # REDIS_KEY_PREFIX's loop names (``RedisKeys.loops``)
        self._record = client.register_script(_RECORD)
        self._mark = client.register_script(_MARK)

    def keys(self, key_id: str) -> tuple[str, str]:
        """The history list and the episode flag of ``key_id``."""
        base = f"{self.prefix}{{{key_id}}}"
        return f"{base}:h", f"{base}:e"

    @staticmethod
    def record_args(summary: RequestSummary, window_seconds: float, limit: int) -> list:
        """``record_request``'s arguments after its two keys."""
        return [summary.encode(), repr(summary.at - window_seconds), limit,
                max(1, int(window_seconds * 1000))]

    @staticmethod
    def history(reply: list) -> History:
        """A ``record_request`` reply as a History."""
        items, episode = reply
        return History(list(map(decode_summary, items)), bool(episode))

    def record(self, key_id, summary, window_seconds, limit) -> History:
        return self.history(self._record(keys=self.keys(key_id),
                                         args=self.record_args(summary, window_seconds, limit)))

    def open_episode(self, key_id, now, window_seconds) -> bool:
        flag = self.keys(key_id)[1]
        ttl = max(1, int(window_seconds * 1000))
        pipe = self.client.pipeline(transaction=False)
        pipe.set(flag, repr(now), nx=True, px=ttl)
        pipe.pexpire(flag, ttl)
        opened, _ = pipe.execute()
        return bool(opened)

    def close_episode(self, key_id) -> None:
        self.client.delete(self.keys(key_id)[1])

    def finish(self, key_id, at, fingerprint) -> bool:
        return self._marked(key_id, at, fingerprint, "finish")

    def discard(self, key_id, at, fingerprint) -> bool:
        return self._marked(key_id, at, fingerprint, "discard")

    def finish_command(self, key_id, at, fingerprint) -> tuple:
        # EVALSHA on its own: a Script in a pipeline asks SCRIPT EXISTS first, a round trip
        # more. A NOSCRIPT reply (Redis restarted) makes the caller run ``finish`` alone.
        return ("EVALSHA", self._mark.sha, 1, self.keys(key_id)[0], summary_key(at, fingerprint),
                "finish")

    def _marked(self, key_id: str, at: float, fingerprint: str, how: str) -> bool:
        return bool(self._mark(keys=self.keys(key_id)[:1], args=[summary_key(at, fingerprint), how]))


class LoopDetector:
    """Checks each request against its key's recent history; see the module docstring."""

    def __init__(self, store: LoopStore, default_thresholds: LoopThresholds | None = None):
        self.store = store
        self.default_thresholds = default_thresholds or LoopThresholds()

    def check(self, key_id: str, body: dict, now: float,
              thresholds: LoopThresholds | None = None) -> LoopVerdict | None:
        """Record the request; return a verdict when it completes a loop (the caller refuses it)."""
        thresholds = thresholds or self.default_thresholds
        if not thresholds.enabled:
            return None
        summary = summarise(body, now)
        try:
            history = self.store.record(key_id, summary, thresholds.window_seconds,
                                        thresholds.history_limit)
        except self.store.failures as exc:
            log.warning("loop detection skipped for key %s: %s", key_id, exc)
            return None
        return self.judge(key_id, history, now, thresholds)

    def judge(self, key_id: str, history: History, now: float,
              thresholds: LoopThresholds) -> LoopVerdict | None:
        """The verdict on the request just recorded as ``history``'s newest; keeps episodes current."""
        if history.requests[-1].joined:
            return None  # in flight with its round: neither a loop nor a change of course
        try:
            verdict = evaluate(history.requests, thresholds)
            if verdict is None:
                # Not part of a loop: the caller changed course, so a later loop is a new episode.
                if history.episode_open:
                    self.store.close_episode(key_id)
                return None
            started = self.store.open_episode(key_id, now, thresholds.window_seconds)
        except self.store.failures as exc:
            log.warning("loop detection skipped for key %s: %s", key_id, exc)
            return None
        return replace(verdict, episode_started=started)

    def finish(self, key_id: str, at: float, fingerprint: str) -> None:
        """Mark a request answered or refused: an identical one sent after it is a repeat."""
        try:
            self.store.finish(key_id, at, fingerprint)
        except self.store.failures as exc:
            log.warning("loop detection could not finish a request of key %s: %s", key_id, exc)

    def finish_command(self, key_id: str, at: float, fingerprint: str) -> tuple | None:
        """``finish`` as one Redis command (None for a store not in Redis), for the caller to
        send in a round trip it makes anyway; where that command fails, it calls ``finish``."""
        return self.store.finish_command(key_id, at, fingerprint)

    def discard(self, key_id: str, at: float, fingerprint: str) -> None:
        """Un-count a request that failed upstream, so the caller's retry is not a repeat."""
        try:
            self.store.discard(key_id, at, fingerprint)
        except self.store.failures as exc:
            log.warning("loop detection could not discard a request of key %s: %s", key_id, exc)
