"""Bias detection end to end through HTTP: probing runs against a fake clinician model with and
without a planted bias, through the gateway's own pipeline and the embedded worker."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

import storage.jobs as jobs_repo
from app.jobs import MAX_ACTIVE_JOBS
from providers.base import ProviderSettings
from storage.ids import utcnow
from tests.compliance.report_client import download_report, pdf_text, section
from tests.conftest import PASSWORD, first_backend_only
from tests.fakes.clinician_upstream import FakeClinician
from tests.support import wait_for

RUNS = "/api/compliance/bias-detection/runs"
PLANTED = ("ethnicity", "Black", 0.6)
YES_NO_DOMAINS = ["pain_management", "referral"]
# A thousand probes a run: the storage they touch is run on every backend by the smaller tests.
ONE_BACKEND = "the statistics do not depend on the backend"
COMPARED = [("sex", "male"), ("ethnicity", "Black"), ("ethnicity", "Hispanic"), ("ethnicity", "Asian")]


@pytest.fixture
def clinician():
    fake = FakeClinician().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(settings, clinician, tmp_path):
    return settings.override(
        providers={"openai": ProviderSettings(base_url=f"{clinician.url}/v1", api_key="upstream")},
        log_journal_dir=str(tmp_path / "log-journal"), export_dir=str(tmp_path / "exports"),
        webhook_allow_private=True)


@pytest.fixture
def embedded(make_app):
    return make_app(run_embedded_worker=True).test_client()


@pytest.fixture
def healthcare(make_account, embedded):
    account = make_account(tier="healthcare")
    created = embedded.post("/api/webhooks", headers=account.headers,
                            json={"url": "http://127.0.0.1:9/hooks",
                                  "event_types": ["compliance.violation"]})
    assert created.status_code == 201, created.get_data(as_text=True)
    return account


def finished_job(client, account, **body) -> dict:
    """Start a run and wait for its job to end."""
    started = client.post(RUNS, headers=account.headers,
                          json={"model": "gpt-4o", "attributes": ["sex", "ethnicity"], "pairs": 60,
                                "seed": 11, **body})
    assert started.status_code == 202, started.get_data(as_text=True)
    job_url = started.headers["Location"]
    return wait_for(lambda: (j := client.get(job_url, headers=account.headers).get_json())["status"]
                    in ("succeeded", "failed") and j, "the probing job", deadline_seconds=120)


def probe(client, account, **body) -> dict:
    """Start a run, wait for its job, and answer the finished run."""
    job = finished_job(client, account, **body)
    assert job["status"] == "succeeded", job
    run = client.get(job["result"]["links"]["run"], headers=account.headers)
    assert run.status_code == 200
    return run.get_json()


def violations(client, account) -> list[dict]:
    events = client.get("/api/webhooks/events", headers=account.headers,
                        query_string={"type": "compliance.violation"})
    return events.get_json()["data"]


def test_a_planted_bias_is_flagged_and_nothing_else(request, embedded, healthcare, clinician):
    first_backend_only(request, ONE_BACKEND)
    clinician.bias = PLANTED
    run = probe(embedded, healthcare, domains=YES_NO_DOMAINS)
    assert run["status"] == "succeeded" and run["source"] == "probe"
    assert run["summary"] == {"probes": 480, "decisions_read": 480, "unreadable": 0, "failed": 0}
    compared = {(f["attribute"], f["group"], f["kind"], f["test"]) for f in run["findings"]}
    assert compared == {(a, g, "yes_no", "mcnemar_exact") for a, g in COMPARED}
    flagged = {(f["attribute"], f["group"]) for f in run["findings"] if f["flagged"]}
    assert flagged == {("ethnicity", "Black")}
    for finding in run["findings"]:
        assert finding["q"] >= finding["p"] and finding["interval"][0] <= finding["effect"] \
            <= finding["interval"][1]
    black = [f for f in run["findings"] if f["group"] == "Black"][0]
    assert black["rates"]["Black"] < black["rates"]["White"]
    # One compliance.violation per flagged finding, naming the run.
    events = violations(embedded, healthcare)
    assert len(events) == sum(f["flagged"] for f in run["findings"])
    assert all(run["id"] in e["data"]["message"] for e in events)
    # A second run finding the same bias raises nothing new.
    again = probe(embedded, healthcare, domains=YES_NO_DOMAINS, seed=12)
    assert {(f["attribute"], f["group"]) for f in again["findings"] if f["flagged"]} == flagged, again
    assert len(violations(embedded, healthcare)) == len(events)
    overview = embedded.get("/api/compliance/bias-detection", headers=healthcare.headers).get_json()
    assert overview["latest_probe_run"]["id"] == again["id"]
    assert [r["id"] for r in overview["runs"]] == [again["id"], run["id"]]


def test_an_unbiased_model_flags_nothing(request, embedded, healthcare, clinician):
    first_backend_only(request, ONE_BACKEND)
    run = probe(embedded, healthcare, pairs=30)
    compared = {(f["attribute"], f["group"], f["kind"]) for f in run["findings"]}
    assert compared == {(a, g, k) for a, g in COMPARED for k in ("yes_no", "level", "dose")}
    assert {f["test"] for f in run["findings"]} == {"mcnemar_exact", "wilcoxon_signed_rank"}
    assert not any(f["flagged"] for f in run["findings"])
    assert violations(embedded, healthcare) == []


def test_the_compliance_report_shows_the_periods_runs_and_flagged_findings(request, embedded, healthcare,
                                                                           clinician):
    first_backend_only(request, ONE_BACKEND)
    clinician.bias = PLANTED
    run = probe(embedded, healthcare, attributes=["ethnicity"], pairs=30, domains=["referral"])
    [black] = [f for f in run["findings"] if f["flagged"]]
    assert (black["attribute"], black["group"]) == ("ethnicity", "Black")
    today = utcnow().date()
    day = {"since": today.isoformat(), "until": (today + timedelta(days=1)).isoformat()}

    bias = section(json.loads(download_report(embedded, healthcare, "json", **day)), "bias_findings")
    assert bias["empty"] is False
    assert bias["figures"] == {"probe_runs": 1, "monitor_windows": 0, "comparisons": len(run["findings"]),
                               "flagged_findings": 1, "flagged_attributes": 1}
    assert bias["provisions"] == ["eu-ai-act-art-10", "eu-ai-act-art-15", "hhs-45-cfr-92-210"]
    runs, flagged = bias["tables"]
    assert [row[1:] for row in runs["rows"]] == [[run["id"], "probing gpt-4o", "succeeded", 3, 1]]
    row = [run["id"], "ethnicity", "Black against White", "yes_no", black["n"], "flip_rate",
           f"{black['effect']:.3f}", f"{black['interval'][0]:.3f} to {black['interval'][1]:.3f}",
           f"{black['q']:.2g}"]
    assert flagged["rows"] == [row]
    assert "1 finding(s) flagged: ethnicity Black." in bias["summary"]

    text = " ".join(pdf_text(download_report(embedded, healthcare, "pdf", **day)).split())
    assert " ".join(map(str, row)) in text
    assert "45 CFR §92.210 (HHS)" in text and "EU AI Act Art. 10" in text


def test_probes_are_billed_logged_and_receipted_like_any_answer(embedded, healthcare):
    run = probe(embedded, healthcare, attributes=["sex"], pairs=10, domains=["referral"])
    assert run["summary"]["probes"] == 20
    logged = wait_for(lambda: (r := embedded.get("/api/analytics/requests", headers=healthcare.headers,
                                                query_string={"limit": 100}).get_json()["data"])
                      and len(r) == 20 and r, "the probes in the request log")
    assert all(r["model"] == "gpt-4o" and r["status"] == "ok" and Decimal(str(r["cost_eur"])) > 0
               for r in logged)
    receipts = embedded.get("/api/health/receipts", headers=healthcare.headers,
                            query_string={"limit": 100}).get_json()["data"]
    assert len(receipts) == 20


def test_a_run_stops_at_the_keys_monthly_quota(embedded, healthcare):
    limited = embedded.patch(f"/api/keys/{healthcare.key_id}", headers=healthcare.headers,
                             json={"monthly_quota": 7})
    assert limited.status_code == 200, limited.get_data(as_text=True)
    job = finished_job(embedded, healthcare, attributes=["sex"], pairs=10)
    assert job["status"] == "failed" and job["error"].startswith("Probing stopped:"), job
    overview = embedded.get("/api/compliance/bias-detection", headers=healthcare.headers).get_json()
    stopped = overview["latest_probe_run"]
    assert stopped["status"] == "failed" and stopped["findings"] == []
    assert stopped["summary"]["probes"] == 7  # the key's quota: 7 answered, the 8th refused


def test_a_session_names_the_key_its_probes_are_billed_to(embedded, healthcare):
    signed_in = embedded.post("/api/auth/login", json={"email": healthcare.user.email,
                                                       "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
    body = {"model": "gpt-4o", "attributes": ["sex"], "pairs": 10}
    unnamed = embedded.post(RUNS, json=body)
    assert unnamed.status_code == 400 and unnamed.get_json()["error"]["code"] == "invalid_request"
    started = embedded.post(RUNS, json={**body, "key_id": healthcare.key_id})
    assert started.status_code == 202, started.get_data(as_text=True)


@pytest.mark.parametrize(("body", "field"), [
    ({"attributes": ["religion"]}, "attributes.0"),
    ({"pairs": 5}, "pairs"),
    ({"domains": ["surgery"]}, "domains"),
    ({"attributes": ["sex"], "templates": [{"decision": "yes_no", "text": "A {age} patient."}]},
     "templates"),
    ({"model": "no-such-model"}, "model_not_found"),
])
def test_a_bad_run_is_refused_before_anything_is_queued(embedded, healthcare, body, field):
    response = embedded.post(RUNS, headers=healthcare.headers, json={"model": "gpt-4o", **body})
    error = response.get_json()["error"]
    if field == "model_not_found":
        assert (response.status_code, error["code"]) == (404, field)
    else:
        assert (response.status_code, error["code"], error["param"]) == (400, "invalid_request", field)
    overview = embedded.get("/api/compliance/bias-detection", headers=healthcare.headers).get_json()
    assert overview["runs"] == []


def test_a_run_whose_job_cannot_start_is_failed_or_never_made(make_app, make_account, private_redis):
    # The private Redis is not started, so the broker cannot take the run's job.
    app = make_app(redis_url=private_redis.url)
    client, account = app.test_client(), make_account(tier="healthcare")
    body = {"model": "gpt-4o", "attributes": ["sex"], "pairs": 10}
    refused = client.post(RUNS, headers=account.headers, json=body)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (503, "job_queue_unavailable")
    [run] = client.get("/api/compliance/bias-detection", headers=account.headers).get_json()["runs"]
    assert run["status"] == "failed"  # not queued for ever
    job = client.get(f"/api/jobs/{run['job_id']}", headers=account.headers).get_json()
    assert job["status"] == "failed" and job["kind"] == "bias_probe"
    with app.app_context():
        for _ in range(MAX_ACTIVE_JOBS):
            jobs_repo.create(account.user.id, "receipts_export")
    busy = client.post(RUNS, headers=account.headers, json=body)
    assert (busy.status_code, busy.get_json()["error"]["code"]) == (409, "too_many_jobs")
    overview = client.get("/api/compliance/bias-detection", headers=account.headers).get_json()
    assert [r["id"] for r in overview["runs"]] == [run["id"]]  # the refused run left nothing


def test_bias_detection_needs_the_healthcare_tier(embedded, make_account):
    pro = make_account(tier="pro")
    assert embedded.get("/api/compliance/bias-detection", headers=pro.headers).status_code == 403
    assert embedded.post(RUNS, headers=pro.headers, json={"model": "gpt-4o"}).status_code == 403
