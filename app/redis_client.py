"""A Redis connection whose "is it clean?" check costs one system call under gevent (``providers.sockets``).

Before it hands out a pooled connection, redis-py asks whether stray data is
waiting on it (a reply left unread means the connection is out of step). The
common answer, nothing buffered and nothing on the socket, comes from one
non-blocking poll; anything else goes through redis-py's full check as before.
"""
from __future__ import annotations

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
