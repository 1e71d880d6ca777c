"""Healthcare fixtures: a healthcare account, chat through the mock provider, and the sequencer."""
from __future__ import annotations

import pytest

from app.healthcare.sequencer import drain_leaves, publish
from providers.base import ProviderSettings

MESSAGES = [{"role": "user", "content": "Summarise the note."}]


@pytest.fixture
def settings(settings, tmp_path):
    return settings.override(log_journal_dir=str(tmp_path / "log-journal"),
                             log_origin="aqta.test/healthcare-log",
                             providers={"mock": ProviderSettings(extra={"response_words": 12,
                                                                        "chunk_count": 4})})


@pytest.fixture
def healthcare(make_account):
    return make_account(tier="healthcare")


@pytest.fixture
def chat(client):
    def send(account, **body):
        response = client.post("/v1/chat/completions", headers=account.headers,
                               json={"model": "mock-1", "messages": MESSAGES, **body})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response
    return send


@pytest.fixture
def sequence(app):
    """Run the sequencer's work once: drain, number, sign."""
    def run():
        with app.app_context():
            drain_leaves()
            return publish()
    return run
