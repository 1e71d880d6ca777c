"""An advisory Redis command sent in the same round trip as a request's record.

The last steps before an answer leaves each want Redis: the loop history marks the
request answered, the request log keeps its record. One after the other they cost
two round trips on the hot path; handed to the request log as an ``Alongside``, the
command goes in the record's pipeline. It is advisory: where it cannot ride along
(no Redis, Redis failed, or its reply was an error such as a script Redis has not
loaded yet) the sink calls ``alone``, which does the same by itself and never raises.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Alongside:
    command: tuple  # the Redis command and its arguments, as ``execute_command`` takes them
    alone: Callable[[], None]  # the same without the shared round trip; never raises
