"""Schemathesis against /openapi.json: every operation, every check, no 5xx and no spec mismatch.

The app runs on loopback with the mock provider; Schemathesis (its CLI, as a CI job
would run it) generates bounded, deterministic examples from the spec, then walks the
API statefully. The key it authenticates with is protected: a DELETE aimed at it is
pointed at a throwaway key instead (tests/api/schemathesis_hooks.py), so the run
cannot revoke its own key.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import storage.keys as keys_repo
from app.identity.api_keys import generate_key
from providers.base import ProviderSettings
from tests.conftest import first_backend_only
from tests.gateway.conftest import LiveGateway

SEED = 20261130
MAX_EXAMPLES = 8  # per operation and phase: bounded, so a run takes a few minutes at most
HOOKS = "tests.api.schemathesis_hooks"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def live(request, make_app):
    first_backend_only(request, "the API's contract does not depend on the database: one backend is enough")
    gateway = LiveGateway(make_app(providers={"mock": ProviderSettings()}))
    yield gateway
    gateway.stop()


def test_the_api_keeps_its_spec_under_generated_input(live, make_account, tmp_path):
    account = make_account(tier="pro")
    with live.app.app_context():  # what a DELETE of the protected key revokes instead
        new = generate_key()
        spare = keys_repo.create(account.user.id, "spare", new.key_hash, new.prefix, new.last_four)
    schemathesis = Path(sys.executable).with_name("schemathesis")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "AQTA_PROTECTED_KEY": account.key_id,
           "AQTA_SPARE_KEY": spare.id, "PYTHONPATH": str(Path(__file__).parents[2])}
    run = subprocess.run(
        [str(schemathesis), "--config-file", str(CONFIG), "run", f"{live.url}/openapi.json",
         "--checks", "all",
         "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
         "--workers", "1", "--no-color", "--no-shrink",
         "--request-timeout", "20", "--suppress-health-check", "all",
         "-H", f"Authorization: Bearer {account.key}"],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
