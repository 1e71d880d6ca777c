"""Compliance reports through HTTP on a healthcare key: a day of mixed traffic in every format."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import timedelta

import pytest
from pypdf import PdfReader

import storage.jobs as jobs_repo
from app.compliance.reports.render_json import EMPTY_NOTE
from storage.ids import utcnow
from storage.log_models import LogEntry
from tests.conftest import first_backend_only, unavailable
from tests.healthcare.conftest import MESSAGES
from tests.support import wait_for

SHOWN_FIGURES = ("requests", "total_eur", "cached", "loop_blocks", "receipts", "receipts_verified",
                 "loop_events")


@pytest.fixture
def embedded(make_app, tmp_path):
    """An app running the actors in process: drains, aggregation, the sequencer, report jobs."""
    app = make_app(run_embedded_worker=True, export_dir=str(tmp_path / "exports"))
    return app, app.test_client()


def _ask(client, account, question: str, **body):
    messages = [*MESSAGES, {"role": "user", "content": question}]
    return client.post("/v1/chat/completions", headers=account.headers,
                       json={"model": "mock-1", "messages": messages, **body})


def _mixed_traffic(client, account) -> list[str]:
    """Distinct questions, one asked until it is cached and then refused as a loop; receipt ids."""
    receipts = [_ask(client, account, f"Question {n}.").get_json()["aqta"]["receipt_id"] for n in range(4)]
    for _ in range(20):
        response = _ask(client, account, "The same question again.", temperature=0)  # cacheable
        if response.status_code == 429:
            assert response.get_json()["error"]["code"] == "loop_detected"
            return receipts
        assert response.status_code == 200
        receipts.append(response.get_json()["aqta"]["receipt_id"])
    pytest.fail("the repeated question was never refused as a loop")


def _all_pages(client, account, path: str, params: dict) -> list[dict]:
    items, cursor = [], None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get(path, headers=account.headers, query_string=query).get_json()
        items += page["data"]
        if not (cursor := page["next_cursor"]):
            return items


def _report(client, account, fmt: str, **period) -> bytes:
    response = client.post("/api/compliance/report", headers=account.headers, json={"format": fmt, **period})
    assert response.status_code == 202, response.get_json()
    job_url = response.headers["Location"]
    job = wait_for(lambda: (j := client.get(job_url, headers=account.headers).get_json())["status"]
                   in ("succeeded", "failed") and j, "the report job")
    assert job["status"] == "succeeded", job
    assert job["kind"] == "compliance_report"
    download = client.get(job["result"]["links"]["download"], headers=account.headers)
    assert download.status_code == 200
    return download.get_data()


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _renders_to_png(pdf: bytes, tmp_path) -> bytes:
    if not shutil.which("pdftoppm"):
        unavailable("pdftoppm", FileNotFoundError("apt-get install poppler-utils"))  # fails in CI
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", "1", "-l", "1", str(tmp_path / "report.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    return next(tmp_path.glob("page*.png")).read_bytes()


def _shown(value) -> str:
    """A JSON figure as the PDF prints it."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "–"}[value]
    return str(value)


def _figures(report: dict) -> dict:
    return {key: value for section in report["sections"] for key, value in section["figures"].items()}


def test_a_day_of_mixed_traffic_in_every_format_equals_the_analytics_and_receipts_routes(
        embedded, healthcare, tmp_path):
    app, client = embedded
    receipts = _mixed_traffic(client, healthcare)
    today = utcnow().date()
    day = {"since": today.isoformat(), "until": (today + timedelta(days=1)).isoformat()}
    wait_for(lambda: len(_all_pages(client, healthcare, "/api/analytics/requests", day)) == len(receipts) + 1,
             "the request log to hold every request")
    wait_for(lambda: all(r["log_status"] == "sequenced"
                         for r in _all_pages(client, healthcare, "/api/health/receipts", day)),
             "every receipt to be sequenced")

    report = json.loads(_report(client, healthcare, "json", **day))
    sections = {section["key"]: section for section in report["sections"]}
    assert list(sections) == ["usage_and_cost", "receipts_and_log", "loops_blocked"]
    assert report["empty"] is False and report["period"] == day

    costs = client.get("/api/analytics/costs", headers=healthcare.headers, query_string=day).get_json()
    assert sections["usage_and_cost"]["figures"] == costs["totals"]
    history = _all_pages(client, healthcare, "/api/analytics/requests", day)
    usage = sections["usage_and_cost"]["figures"]
    assert usage["requests"] == len(history) == len(receipts) + 1
    assert usage["cached"] == sum(r["cached"] for r in history) >= 1
    assert usage["loop_blocks"] == sum(r["loop_detected"] for r in history) == 1

    listed = _all_pages(client, healthcare, "/api/health/receipts", day)
    log = sections["receipts_and_log"]["figures"]
    assert sorted(r["id"] for r in listed) == sorted(receipts)
    verified = [client.post(f"/api/health/receipts/{r['id']}/verify", headers=healthcare.headers, json={})
                .get_json()["valid"] for r in listed]
    assert log["receipts"] == log["receipts_checked"] == log["receipts_verified"] == len(listed)
    assert sum(verified) == len(listed)  # as the verify route finds them
    assert log["receipts_failed"] == log["receipts_pending"] == 0
    assert log["checkpoints"] >= 1 and log["log_consistent"] is True
    checkpoint = client.get("/api/health/log/checkpoint").get_data(as_text=True)
    assert log["latest_checkpoint_size"] == int(checkpoint.split("\n")[1])
    assert sections["loops_blocked"]["figures"]["loop_events"] == 1
    assert "eu-ai-act-art-14" in sections["loops_blocked"]["provisions"]

    figures = _figures(report)
    html = _report(client, healthcare, "html", **day).decode()
    for name in SHOWN_FIGURES:
        assert f'data-figure="{name}">{figures[name]}<' in html
    assert html.count("<svg") == 2

    pdf = _report(client, healthcare, "pdf", **day)
    text = _pdf_text(pdf)
    for section in report["sections"]:
        for name, value in section["figures"].items():
            label = section["labels"][name]
            assert f"{label}\n{_shown(value)}\n" in text, (label, value)
    assert "HIPAA §164.312(c)(1)" in text and "EU AI Act Art. 19" in text
    assert _renders_to_png(pdf, tmp_path).startswith(b"\x89PNG")


def test_a_period_with_no_data_says_so_in_every_format(embedded, healthcare, tmp_path):
    app, client = embedded
    report = json.loads(_report(client, healthcare, "json", month="2020-01"))
    assert report["empty"] is True and report["note"] == EMPTY_NOTE
    assert report["period"] == {"since": "2020-01-01", "until": "2020-02-01"}
    assert all(section["empty"] for section in report["sections"])
    assert EMPTY_NOTE in _report(client, healthcare, "html", month="2020-01").decode()
    pdf = _report(client, healthcare, "pdf", month="2020-01")
    assert EMPTY_NOTE in _pdf_text(pdf) and "No requests in this period." in _pdf_text(pdf)
    assert _renders_to_png(pdf, tmp_path).startswith(b"\x89PNG")


def test_only_the_healthcare_tier_gets_reports_and_only_its_own(embedded, healthcare, make_account):
    app, client = embedded
    for tier in ("free", "starter", "pro"):
        other = make_account(tier=tier)
        response = client.post("/api/compliance/report", headers=other.headers,
                               json={"format": "json", "month": "2026-01"})
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "insufficient_tier"
    created = client.post("/api/compliance/report", headers=healthcare.headers,
                          json={"format": "json", "month": "2026-01"})
    job_id = created.get_json()["id"]
    wait_for(lambda: client.get(f"/api/jobs/{job_id}", headers=healthcare.headers)
             .get_json()["status"] == "succeeded", "the report job")
    stranger = make_account(tier="healthcare")
    for path in (f"/api/compliance/report/{job_id}/download", f"/api/jobs/{job_id}"):
        assert client.get(path, headers=stranger.headers).status_code == 404
    mine = client.get(f"/api/compliance/report/{job_id}/download", headers=healthcare.headers)
    assert mine.status_code == 200
    with app.app_context():
        export = jobs_repo.create(healthcare.user.id, "receipts_export")
    response = client.get(f"/api/compliance/report/{export.id}/download", headers=healthcare.headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "report_not_ready"


@pytest.mark.parametrize("body", [
    {"month": "2026-01"},
    {"format": "xml", "month": "2026-01"},
    {"format": "json"},
    {"format": "json", "month": "2026-13"},
    {"format": "json", "month": "January"},
    {"format": "json", "month": "2026-01", "since": "2026-01-01"},
    {"format": "json", "since": "2026-02-01", "until": "2026-01-01"},
    {"format": "json", "since": "2026-01-01T12:00:00Z"},
    {"format": "json", "since": "2024-01-01", "until": "2026-01-01"},
    {"format": "json", "since": "yesterday"},
])
def test_bad_requests_are_400_invalid_request(request, client, healthcare, body):
    first_backend_only(request, "validation happens before any query: one backend is enough")
    response = client.post("/api/compliance/report", headers=healthcare.headers, json=body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_a_tampered_receipt_is_reported_as_failing_verification(embedded, healthcare):
    app, client = embedded
    receipts = [_ask(client, healthcare, f"Question {n}.").get_json()["aqta"]["receipt_id"] for n in range(3)]
    today = utcnow().date()
    day = {"since": today.isoformat(), "until": (today + timedelta(days=1)).isoformat()}
    wait_for(lambda: [r["log_status"] for r in _all_pages(client, healthcare, "/api/health/receipts", day)]
             == ["sequenced"] * 3, "the receipts to be sequenced")
    with app.app_context():  # someone with database access rewrites a receipt's model
        entry = LogEntry.get_by_id(receipts[1])
        entry.leaf_data = entry.leaf_data.replace('"mock-1"', '"mock-2"')
        entry.save()
    report = json.loads(_report(client, healthcare, "json", **day))
    log = next(s for s in report["sections"] if s["key"] == "receipts_and_log")
    assert (log["figures"]["receipts_verified"], log["figures"]["receipts_failed"]) == (2, 1)
    failures = next(t for t in log["tables"] if t["title"] == "Receipts failing verification")
    assert [row[0] for row in failures["rows"]] == [receipts[1]]
    assert failures["rows"][0][1].startswith("inclusion_proof")
    assert "2 of 3 receipts verified" in log["summary"]
