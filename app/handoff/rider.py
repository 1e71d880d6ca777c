"""A rider: a record of another stream handed off in the same Redis round trip as a request's record.

The request log hands a record off for every request; a healthcare receipt is a
second record of the same request, for another stream. Sent alone it would cost
a second round trip to Redis on the hot path; as a rider it goes in the request
record's pipeline. A rider that Redis did not take is kept by its ``fallback``
(its producer's own journal), which raises if it cannot keep it either.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rider:
    stream: str  # the Redis Stream it belongs to
    data: bytes  # the encoded record
    fallback: Callable[[bytes], None]  # keeps it durably without Redis; raises if it cannot
