"""Compliance reports through HTTP on a healthcare key: a day of mixed traffic in every format."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import timedelta

import pytest

import storage.jobs as jobs_repo
from app.compliance.reports.render_json import EMPTY_NOTE
from storage.ids import utcnow
from storage.log_models import LogEntry
from tests.compliance.report_client import download_report, pdf_text, renders_to_png, section
from tests.conftest import first_backend_only
from tests.healthcare.conftest import MESSAGES
from tests.support import wait_for

TRAIL = "/api/compliance/audit-trail"
SHOWN_FIGURES = ("requests", "total_eur", "cached", "loop_blocks", "receipts", "receipts_verified",
                 "loop_events")
# Each report asked for is an audit event, a leaf of the transparency log: a report made a
# moment later may find a newer checkpoint, never an older one.
LOG_GROWTH_FIGURES = ("latest_checkpoint_size", "checkpoints")


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


def _wait_for_a_checkpoint_covering_them(client, account, day: dict, receipts: int) -> None:
    """Until the period's receipts are all numbered and the latest checkpoint covers them
    (the sequencer numbers, then signs: a moment apart)."""
    def covered():
        listed = _all_pages(client, account, "/api/health/receipts", day)
        if len(listed) != receipts or any(r["leaf_index"] is None for r in listed):
            return False
        checkpoint = client.get("/api/health/log/checkpoint")
        return checkpoint.status_code == 200 and max(r["leaf_index"] for r in listed) < int(
            checkpoint.get_data(as_text=True).split("\n")[1])
    wait_for(covered, "a checkpoint covering every receipt")


def _today() -> tuple[dict, dict]:
    """Today as a report's period, and as the audit trail's filter."""
    today = utcnow().date()
    day = {"since": today.isoformat(), "until": (today + timedelta(days=1)).isoformat()}
    return day, {name: f"{value}T00:00:00Z" for name, value in day.items()}


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
    _wait_for_a_checkpoint_covering_them(client, healthcare, day, len(receipts))

    report = json.loads(download_report(client, healthcare, "json", **day))
    sections = {section["key"]: section for section in report["sections"]}
    assert list(sections) == ["usage_and_cost", "receipts_and_log", "audit_trail", "high_risk_decisions",
                              "bias_findings", "loops_blocked"]
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
    # the log grows after the report (each report and verification asked for is an audit leaf)
    assert len(listed) <= log["latest_checkpoint_size"] <= int(checkpoint.split("\n")[1])
    assert sections["loops_blocked"]["figures"]["loop_events"] == 1
    assert "eu-ai-act-art-14" in sections["loops_blocked"]["provisions"]

    figures = _figures(report)
    html = download_report(client, healthcare, "html", **day).decode()
    for name in SHOWN_FIGURES:
        assert f'data-figure="{name}">{figures[name]}<' in html
    assert html.count("<svg") == 2

    pdf = download_report(client, healthcare, "pdf", **day)
    text = pdf_text(pdf)
    for shown in report["sections"]:
        if shown["key"] == "audit_trail":
            continue  # each report asked for since the JSON one is an event more
        for name, value in shown["figures"].items():
            label = shown["labels"][name]
            if name in LOG_GROWTH_FIGURES:  # the log may have been signed again since
                shown_then = re.search(rf"{re.escape(label)}\n(\d+)\n", text)
                assert shown_then and int(shown_then.group(1)) >= value, (label, value)
                continue
            assert f"{label}\n{_shown(value)}\n" in text, (label, value)
    assert "HIPAA §164.312(c)(1)" in text and "EU AI Act Art. 19" in text
    assert renders_to_png(pdf, tmp_path).startswith(b"\x89PNG")


def test_a_period_with_no_data_says_so_in_every_format(embedded, healthcare, tmp_path):
    app, client = embedded
    report = json.loads(download_report(client, healthcare, "json", month="2020-01"))
    assert report["empty"] is True and report["note"] == EMPTY_NOTE
    assert report["period"] == {"since": "2020-01-01", "until": "2020-02-01"}
    assert all(section["empty"] for section in report["sections"])
    assert EMPTY_NOTE in download_report(client, healthcare, "html", month="2020-01").decode()
    pdf = download_report(client, healthcare, "pdf", month="2020-01")
    text = pdf_text(pdf)
    assert EMPTY_NOTE in text and "No requests in this period." in text
    assert "No probing run and no monitoring window in this period." in text
    assert "No answers were assessed for risk in this period." in text
    assert "No audit events were recorded in this period." in text
    assert renders_to_png(pdf, tmp_path).startswith(b"\x89PNG")


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
    _wait_for_a_checkpoint_covering_them(client, healthcare, day, 3)
    _, instants = _today()
    listed = wait_for(lambda: (events := _all_pages(client, healthcare, TRAIL,
                                                    {**instants, "action": "receipt.listed"}))
                      and all("inclusion_proof" in e for e in events) and events,
                      "the listings' audit events to be in a checkpoint")
    with app.app_context():  # someone with database access rewrites a receipt's model and an event
        entry = LogEntry.get_by_id(receipts[1])
        entry.leaf_data = entry.leaf_data.replace('"mock-1"', '"mock-2"')
        entry.save()
        event = LogEntry.get_by_id(listed[0]["audit_event"]["id"])
        event.leaf_data = event.leaf_data.replace('"receipt.listed"', '"receipt.read"')
        event.save()
    report = json.loads(download_report(client, healthcare, "json", **day))
    audit = section(report, "audit_trail")
    assert audit["figures"]["audit_events_failed"] == 1
    failures = next(t for t in audit["tables"] if t["title"] == "Audit events failing verification")
    assert [row[0] for row in failures["rows"]] == [listed[0]["audit_event"]["id"]]
    assert "1 FAILED verification" in audit["summary"]
    log = next(s for s in report["sections"] if s["key"] == "receipts_and_log")
    assert (log["figures"]["receipts_verified"], log["figures"]["receipts_failed"]) == (2, 1)
    failures = next(t for t in log["tables"] if t["title"] == "Receipts failing verification")
    assert [row[0] for row in failures["rows"]] == [receipts[1]]
    assert failures["rows"][0][1].startswith("inclusion_proof")
    assert "2 of 3 receipts verified" in log["summary"]


def test_the_audit_trail_section_counts_and_verifies_the_periods_events(embedded, healthcare):
    app, client = embedded
    created = client.post("/api/keys", headers=healthcare.headers, json={"name": "ward 3"})
    assert created.status_code == 201
    revoked = client.delete(f"/api/keys/{created.get_json()['id']}", headers=healthcare.headers)
    assert revoked.status_code == 204
    day, instants = _today()
    _all_pages(client, healthcare, "/api/health/receipts", day)  # receipt.listed
    before = wait_for(lambda: (events := _all_pages(client, healthcare, TRAIL, instants))
                      and all("inclusion_proof" in e for e in events) and events,
                      "the events to be in a checkpoint")

    audit = section(json.loads(download_report(client, healthcare, "json", **day)), "audit_trail")
    types = Counter([e["audit_event"]["type"] for e in before] + ["report.requested"])
    actors = Counter([e["audit_event"]["agent"]["id"] for e in before] + [healthcare.key_id])
    figures = audit["figures"]
    assert (figures["audit_events"], figures["audit_actions"], figures["audit_actors"]) == (
        sum(types.values()), len(types), len(actors))
    assert figures["audit_events_checked"] >= len(before)
    assert figures["audit_events_checked"] + figures["audit_events_pending"] == figures["audit_events"]
    assert figures["audit_events_verified"] == figures["audit_events_checked"]
    assert figures["audit_events_failed"] == 0
    by_action, by_actor = audit["tables"]
    assert dict(by_action["rows"]) == types and dict(by_actor["rows"]) == actors
    assert "hipaa-164.308-a-1-ii-d" in audit["provisions"]


def test_a_generated_report_is_one_audit_event_naming_its_files_hash(embedded, healthcare):
    app, client = embedded
    day, instants = _today()
    pdf = download_report(client, healthcare, "pdf", **day)
    [generated] = wait_for(lambda: _all_pages(client, healthcare, TRAIL,
                                              {**instants, "action": "report.generated"}),
                           "the report's generation in the audit trail")
    event = generated["audit_event"]
    assert event["agent"] == {"type": "system", "id": "compliance.report"}
    assert event["detail"] == {"format": "pdf", **day, "sha256": hashlib.sha256(pdf).hexdigest()}
    job = client.get(f"/api/jobs/{event['entity']['id']}", headers=healthcare.headers).get_json()
    assert job["result"]["sha256"] == event["detail"]["sha256"]
    [requested] = _all_pages(client, healthcare, TRAIL, {**instants, "action": "report.requested"})
    assert requested["audit_event"]["entity"] == event["entity"]
