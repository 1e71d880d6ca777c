"""Fixtures of the dashboard's tests: a signed-in test client that posts forms like a browser."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

import storage.costs as costs_repo
import storage.requests as requests_repo
from app.config import ProviderSettings
from tests.conftest import PASSWORD, Account

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@pytest.fixture
def settings(settings, tmp_path):
    """The shared test settings, with the offline mock provider serving ``mock-*`` models and
    the receipts' journal and exports in this test's folder."""
    return settings.override(providers={"mock": ProviderSettings()},
                             log_journal_dir=str(tmp_path / "log-journal"),
                             export_dir=str(tmp_path / "exports"))


@dataclass
class Visitor:
    """A test client that fills in forms: GET the page, then POST with its CSRF token."""

    client: FlaskClient

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def submit(self, page: str, data: dict, action: str | None = None):
        token = csrf_token(self.client.get(page).get_data(as_text=True))
        return self.client.post(action or page, data={**data, "csrf_token": token})


@pytest.fixture
def visitor(app) -> Visitor:
    return Visitor(app.test_client())


@pytest.fixture
def signed_in(app, make_account):
    """A visitor logged in (through the log-in form) as a new account of ``tier``."""

    def sign_in(tier: str = "free") -> tuple[Visitor, Account]:
        account = make_account(tier=tier)
        visitor = Visitor(app.test_client())
        response = visitor.submit("/login", {"email": account.user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return visitor, account

    return sign_in


@pytest.fixture
def store(app):
    """Insert request records through the repository and aggregate them, as the workers would."""

    def insert(records):
        with app.app_context():
            requests_repo.insert_batch(records)
            costs_repo.aggregate()
        return records

    return insert
