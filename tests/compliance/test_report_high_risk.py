"""The compliance report's high-risk section through HTTP: dosing answers assessed high, reviewed
or not, and the violations still open."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.compliance.reports import jobs as reports
from app.healthcare.risk.oversight import check_overdue
from providers.base import ProviderSettings
from storage.ids import utcnow
from tests.compliance.report_client import pdf_text, section
from tests.healthcare.test_risk_http import DOSING_ANSWER, ask, classify_and_sequence

DOSING = {"model": "gpt-4o", "messages": [{"role": "user", "content": "4 years old: how much ibuprofen?"}]}
PLAIN = {"model": "gpt-4o", "messages": [{"role": "user", "content": "When does the clinic open?"}]}


@pytest.fixture
def settings(settings, openai_upstream, tmp_path):
    openai_upstream.answer(text=DOSING_ANSWER)
    upstream = ProviderSettings(api_key="upstream-key", base_url=openai_upstream.url + "/v1")
    return settings.override(export_dir=str(tmp_path / "reports"), providers={"openai": upstream})


def _review(client, account, receipt_id: str, outcome: str) -> None:
    response = client.post(f"/api/health/receipts/{receipt_id}/review", headers=account.headers,
                           json={"reviewer": "Dr A. Clinician", "outcome": outcome})
    assert response.status_code == 201, response.get_json()


def _report(app, client, account, fmt: str) -> bytes:
    """Ask for today's report through HTTP, run the worker's part here, download it."""
    today = utcnow().date()
    response = client.post("/api/compliance/report", headers=account.headers,
                           json={"format": fmt, "since": today.isoformat()})
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    with app.app_context():
        reports.run(job_id, account.user.id, "healthcare", fmt, today, today + timedelta(days=1),
                    app.config["AQTA_SETTINGS"].export_dir)
    download = client.get(f"/api/compliance/report/{job_id}/download", headers=account.headers)
    assert download.status_code == 200
    return download.get_data()


def test_the_report_shows_high_risk_decisions_their_reviews_and_open_violations(
        app, client, healthcare, openai_upstream):
    approved, rejected, unreviewed, late = (ask(client, healthcare, DOSING) for _ in range(4))
    openai_upstream.answer(text="The clinic opens at eight.")
    plain = ask(client, healthcare, PLAIN)
    for receipt_id in (approved, rejected, unreviewed, late, plain):
        classify_and_sequence(app, client, healthcare, receipt_id)
    _review(client, healthcare, approved, "approved")
    _review(client, healthcare, rejected, "rejected")
    with app.app_context():
        assert check_overdue(utcnow() + timedelta(hours=24, seconds=1)) == 2  # unreviewed and late
    _review(client, healthcare, late, "amended")  # answers its violation

    risky = section(json.loads(_report(app, client, healthcare, "json")), "high_risk_decisions")
    assert risky["empty"] is False
    assert risky["figures"] == {
        "answers_assessed": 5, "high_risk": 4, "medium_risk": 0, "low_risk": 1, "reviewed": 3,
        "approved": 1, "amended": 1, "rejected": 1, "awaiting_review": 1, "violations": 2,
        "open_violations": 1}
    assert "eu-ai-act-art-14" in risky["provisions"] and "eu-ai-act-art-26" in risky["provisions"]
    tables = {table["title"]: table for table in risky["tables"]}
    [waiting] = tables["Awaiting review"]["rows"]
    assert waiting[1:3] == [unreviewed, "gpt-4o"] and "medication_dosing" in waiting[3]
    [violation] = tables["Open violations"]["rows"]
    assert violation[1:] == [unreviewed, "eu_ai_act", "art_14_human_oversight", "high"]
    assert dict(tables["High-risk decisions by category"]["rows"])["medication_dosing"] == 4

    text = " ".join(pdf_text(_report(app, client, healthcare, "pdf")).split())
    assert "High-risk decisions and human oversight" in text and "EU AI Act Art. 26" in text
    assert f"{violation[0]} {unreviewed} eu_ai_act art_14_human_oversight high" in text
