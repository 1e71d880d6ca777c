"""The app's Redis client: fail fast once Redis has stalled, and a cheap "is it clean?" check.

``FailFastRedis``: once a command times out, Redis has stalled (overloaded,
paused, a network partition), and the next commands would each wait out the
socket timeout too: a request that needs Redis twice (admission, then its log
record) would take twice as long. For ``STALL_PAUSE_SECONDS`` after a timeout
every command fails at once with ``redis.ConnectionError``, which every caller
already handles (admission refuses with 503, the request log journals). The
first command after the pause tries Redis again.

``QuickCheckConnection``: before it hands out a pooled connection, redis-py asks
whether stray data is waiting on it (a reply left unread means the connection is
out of step). The common answer, nothing buffered and nothing on the socket,
comes from one non-blocking poll (``providers.sockets``); anything else goes
through redis-py's full check as before.
"""
from __future__ import annotations

import time

import redis

from providers.sockets import has_input


class QuickCheckConnection(redis.Connection):
    def can_read(self, timeout: float = 0) -> bool:
        if timeout == 0 and self._sock is not None and not self._parser_has_data():
            if not has_input(self._sock):
                return False
        return super().can_read(timeout)

    def _parser_has_data(self) -> bool:
        reader = getattr(self._parser, "_reader", None)  # hiredis's
        if reader is not None:
            return bool(reader.has_data())
        buffer = getattr(self._parser, "_buffer", None)  # the pure-Python parsers'
        return buffer is None or bool(getattr(buffer, "length", 1))


STALL_PAUSE_SECONDS = 1.0  # after a timed-out command, fail every command at once this long


class FailFastRedis(redis.Redis):
    """A client that, after one command timed out, fails the next ones at once for a while
    (its pipelines too: a request's log record goes to Redis in one)."""

    _stalled_until = float("-inf")  # time.monotonic(); per client, set on the instance

    def execute_command(self, *args, **options):
        return self.unless_stalled(super().execute_command, *args, **options)

    def pipeline(self, transaction=True, shard_hint=None) -> FailFastPipeline:
        return FailFastPipeline(self, transaction, shard_hint)

    def unless_stalled(self, call, *args, **options):
        if time.monotonic() < self._stalled_until:
            raise redis.ConnectionError("Redis timed out a moment ago; not waiting on it again yet")
        try:
            return call(*args, **options)
        except redis.TimeoutError:
            self._stalled_until = time.monotonic() + STALL_PAUSE_SECONDS
            raise


class FailFastPipeline(redis.client.Pipeline):
    """A pipeline of a ``FailFastRedis``: sent only while its client is not stalled."""

    def __init__(self, client: FailFastRedis, transaction: bool, shard_hint):
        super().__init__(client.connection_pool, client.response_callbacks, transaction, shard_hint)
        self.owner = client

    def execute(self, raise_on_error: bool = True):
        return self.owner.unless_stalled(super().execute, raise_on_error)
