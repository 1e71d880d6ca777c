"""The Flask class Aqta's factory builds: Flask, with its sync check remembered per function."""
from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any
from weakref import WeakSet

from flask import Flask


class AqtaFlask(Flask):
    """Flask whose ``ensure_sync`` remembers the plain functions it found synchronous.

    Flask passes every hook and view through ``ensure_sync`` on every request (about
    fourteen a chat completion), and each call asks ``inspect.iscoroutinefunction``
    again: some eight Python calls for an answer that never changes for a function.
    Only plain functions are remembered, weakly (a per-request closure is forgotten
    with it); bound methods and coroutine functions take Flask's own path each time.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sync_functions: WeakSet[Callable] = WeakSet()

    def ensure_sync(self, func: Callable) -> Callable:
        if func in self._sync_functions:
            return func
        result = super().ensure_sync(func)
        if result is func and type(func) is FunctionType:
            self._sync_functions.add(func)
        return result
