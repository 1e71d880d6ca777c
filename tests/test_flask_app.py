"""AqtaFlask: Flask's sync check asked once per hook, not once per hook per request."""
from __future__ import annotations

import gc
import inspect
import weakref

from flask import after_this_request

from tests.support import calls_to


def coroutine_checks(client, path: str) -> int:
    """How many times ``inspect.iscoroutinefunction`` runs while the client GETs ``path``."""
    responses = []
    calls = calls_to(inspect.iscoroutinefunction, lambda: responses.append(client.get(path)))
    assert responses[0].status_code == 200
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
    assert kept[0] in app._sync_functions  # remembered while the request's hook lives
    held, hook = len(app._sync_functions), weakref.ref(kept[0])
    kept.clear()
    gc.collect()
    assert hook() is None  # the app's memory of it kept it alive no longer
    assert len(app._sync_functions) == held - 1
