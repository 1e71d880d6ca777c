"""Schemathesis hooks for tests/api/test_schemathesis.py (loaded by name via SCHEMATHESIS_HOOKS)."""
from __future__ import annotations

import os

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    """Never revoke the key the run authenticates with: aim such a DELETE at a spare key."""
    protected = os.environ.get("AQTA_PROTECTED_KEY")
    if case.method.upper() == "DELETE" and (case.path_parameters or {}).get("key_id") == protected:
        case.path_parameters["key_id"] = os.environ["AQTA_SPARE_KEY"]
