"""AqtaFlask: Flask's sync check asked once per hook, not once per hook per request."""
from __future__ import annotations

import gc
import inspect
import sys

from flask import after_this_request


def coroutine_checks(client, path: str) -> int:
    """How many times ``inspect.iscoroutinefunction`` runs while the client GETs ``path``."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call" and frame.f_code is inspect.iscoroutinefunction.__code__:
            calls += 1

    sys.setprofile(count)
    try:
        assert client.get(path).status_code == 200
    finally:
        sys.setprofile(None)
    return calls


def test_hooks_are_checked_once_then_remembered(client):
    assert coroutine_checks(client, "/healthz") > 10  # the first request checks each hook once
    assert coroutine_checks(client, "/healthz") <= 1  # then only a view that is a bound method


def test_a_per_request_hook_still_runs_and_is_not_kept(app):
    ran, kept = [], []

    @app.get("/_closure")
    def closure():
        @after_this_request
        def mark(response):
            ran.append(True)
            return response

        kept.append(mark)
        return "ok"

    client = app.test_client()
    assert client.get("/_closure").status_code == 200
    assert ran == [True]
    assert len(app._sync_functions) > 0
    held = len(app._sync_functions)
    kept.clear()
    gc.collect()
    assert len(app._sync_functions) == held - 1
