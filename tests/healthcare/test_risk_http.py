"""High-risk decisions through HTTP on a healthcare key: assessment amendments, their webhooks,
reviews, approved models and compliance violations; once each, also under concurrent workers;
and the patient text lands nowhere.

The upstream is the fake OpenAI server answering a dosing question; the classifier and the
oversight check run as the workers run them (``drain_cases``, ``check_overdue``), with the
clock moved by argument instead of waiting out the review window.
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import redis

import storage.risk as risk_repo
from app.handoff.drain import drain_journal
from app.healthcare.offline import load_verifiers, verify_file
from app.healthcare.risk.assessment import assess, drain_cases
from app.healthcare.risk.cases import RiskCases, risk_cases
from app.healthcare.risk.oversight import check_overdue
from app.healthcare.sequencer import drain_leaves, publish
from app.healthcare.transparency import transparency_log
from app.healthcare.verify import verify_bundle
from providers.base import ProviderSettings
from storage.ids import utcnow
from storage.tables import ALL_MODELS
from tests.support import wait_for
from tests.support.webhooks import FAST, create_endpoint

CANARY = "canary-patient-Q7Z3-Ottoline-Brackwater"
DOSING = {"model": "gpt-4o", "messages": [
    {"role": "user", "content": f"{CANARY}, 4 years old: how much ibuprofen can I give?"}]}
DOSING_ANSWER = f"For {CANARY} give 7.5 ml of the 100 mg/5 ml suspension up to three times a day."
HIGH_RISK = "healthcare.high_risk_decision"
VIOLATION = "compliance.violation"


@pytest.fixture
def settings(settings, openai_upstream):
    openai_upstream.answer(text=DOSING_ANSWER)
    return settings.override(webhook_allow_private=True, **{k: v for k, v in FAST.items()
                                                            if k != "webhook_allow_private"},
                             providers={"openai": ProviderSettings(api_key="upstream-key",
                                                                   base_url=openai_upstream.url + "/v1")})


@pytest.fixture
def hooked(client, healthcare, receiver):
    """The healthcare account, subscribed to the two events on the loopback receiver."""
    created = create_endpoint(client, healthcare, receiver.url, event_types=[HIGH_RISK, VIOLATION])
    receiver.secrets["current"] = created["secret"]
    return healthcare


@pytest.fixture
def delivering(make_app, app):
    """A second app whose embedded worker delivers webhooks (and runs the periodic actors)."""
    return make_app(run_embedded_worker=True)


def ask(client, account, body=DOSING, **headers) -> str:
    response = client.post("/v1/chat/completions", json=body, headers={**account.headers, **headers})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["aqta"]["receipt_id"]


def classify_and_sequence(app, client=None, account=None, receipt_id: str | None = None) -> None:
    """Run the classifier and the sequencer once; given a receipt, wait for its assessment
    (an embedded worker may hold the journal for a moment)."""
    with app.app_context():
        drain_cases()
        if receipt_id is not None:
            wait_for(lambda: risk_repo.assessment(account.user.id, receipt_id), "the assessment")
        drain_leaves()
        publish()


def stored_events(client, account, event_type: str) -> list[dict]:
    response = client.get(f"/api/webhooks/events?type={event_type}", headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_a_dosing_answer_gets_a_high_risk_amendment_and_one_webhook(app, client, hooked, receiver,
                                                                   delivering):
    receipt_id = ask(client, hooked)
    classify_and_sequence(app, client, hooked, receipt_id)
    classify_and_sequence(app)  # a second run finds nothing new
    bundle = client.get(f"/api/health/receipts/{receipt_id}", headers=hooked.headers).get_json()
    [assessed] = bundle["amendments"]
    amendment = assessed["amendment"]
    assert amendment["kind"] == "risk_assessment" and amendment["receipt_id"] == receipt_id
    assert amendment["risk"]["level"] == "high"
    assert {"medication_dosing", "paediatric"} <= set(amendment["risk"]["categories"])
    assert "dosing.amount" in amendment["risk"]["rule_ids"]
    with app.app_context():
        tlog = transparency_log()
        checks = verify_bundle(assessed, tlog.verifiers(), tlog.origin)
    assert all(check.ok for check in checks), checks
    assert bundle["receipt"]["id"] == receipt_id  # the receipt itself is unchanged
    keys = [k["vkey"] for k in client.get("/api/health/log/keys").get_json()["keys"]]
    outcomes = verify_file(json.dumps(bundle), load_verifiers(keys))
    assert [o.ok for o in outcomes] == [True, True] and outcomes[1].label == amendment["id"]
    amendment["risk"]["level"] = "low"  # rewritten after the fact
    bundle["amendments"].append({**assessed, "amendment": {**amendment, "receipt_id": "rcpt_other"}})
    outcomes = verify_file(json.dumps(bundle), load_verifiers(keys))
    assert [o.ok for o in outcomes] == [True, False, False]
    assert "leaf_hash" in outcomes[1].reason and "amends 'rcpt_other'" in outcomes[2].reason
    [event] = stored_events(client, hooked, HIGH_RISK)
    [got] = wait_for(lambda: receiver.of_type(HIGH_RISK), "the high-risk webhook")
    assert got.verified_by == ["current"]
    data = got.payload["data"]
    assert data["receipt_id"] == receipt_id and data["model"] == "gpt-4o" and data["risk_level"] == "high"
    assert event["id"] == got.webhook_id


def test_a_plain_answer_is_assessed_low_without_an_event(app, client, hooked, openai_upstream):
    openai_upstream.answer(text="The clinic opens at eight.")
    receipt_id = ask(client, hooked, {"model": "gpt-4o", "messages": [
        {"role": "user", "content": "When does the clinic open?"}]})
    classify_and_sequence(app)
    [assessed] = client.get(f"/api/health/receipts/{receipt_id}",
                            headers=hooked.headers).get_json()["amendments"]
    assert assessed["amendment"]["risk"]["level"] == "low"
    assert stored_events(client, hooked, HIGH_RISK) == []


def test_what_the_client_declares_makes_a_decision_high_risk(app, client, hooked, openai_upstream):
    openai_upstream.answer(text="Here is the summary.")
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Summarise."}]}
    by_header = ask(client, hooked, body, **{"X-Aqta-Decision-Type": "triage"})
    by_metadata = ask(client, hooked, {**body, "metadata": {"risk": "high"}})
    classify_and_sequence(app)
    with app.app_context():
        assert risk_repo.assessment(hooked.user.id, by_header).categories == ["triage_urgency"]
        assert risk_repo.assessment(hooked.user.id, by_metadata).level == "high"
    assert len(stored_events(client, hooked, HIGH_RISK)) == 2


def test_unreviewed_past_the_window_raises_one_violation(app, client, hooked, receiver, delivering):
    receipt_id = ask(client, hooked)
    classify_and_sequence(app, client, hooked, receipt_id)
    with app.app_context():
        assert check_overdue() == 0  # within the window
        later = utcnow() + timedelta(hours=24, seconds=1)
        assert check_overdue(later) == 1
        assert check_overdue(later) == 0
    [got] = wait_for(lambda: receiver.of_type(VIOLATION), "the violation webhook")
    assert got.payload["data"]["rule"] == "art_14_human_oversight"
    assert got.payload["data"]["framework"] == "eu_ai_act"
    assert got.payload["data"]["receipt_id"] == receipt_id
    assert len(stored_events(client, hooked, VIOLATION)) == 1

    def oversight() -> dict:
        response = client.get(f"/api/health/receipts/{receipt_id}", headers=hooked.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["oversight"]

    seen = oversight()
    assert seen["risk"]["level"] == "high" and seen["reviews"] == []
    assert [(v["rule"], v["status"]) for v in seen["violations"]] == [("art_14_human_oversight", "open")]
    review = client.post(f"/api/health/receipts/{receipt_id}/review", headers=hooked.headers,
                         json={"reviewer": "Dr A. Clinician", "outcome": "amended"}).get_json()["amendment"]
    [cleared] = oversight()["violations"]  # a late review clears it; no second event
    assert (cleared["status"], cleared["cleared_by_review"]) == ("cleared", review["id"])
    assert len(stored_events(client, hooked, VIOLATION)) == 1


def test_a_review_within_the_window_prevents_the_violation(app, client, hooked):
    receipt_id = ask(client, hooked)
    classify_and_sequence(app)
    response = client.post(f"/api/health/receipts/{receipt_id}/review", headers=hooked.headers,
                           json={"reviewer": "Dr A. Clinician", "outcome": "approved",
                                 "note": f"Checked the dose for {CANARY}."})
    assert response.status_code == 201, response.get_json()
    review = response.get_json()["amendment"]
    assert review["kind"] == "review" and review["review"]["outcome"] == "approved"
    assert len(review["review"]["note_commitment"]) == 64 and CANARY not in str(review)
    with app.app_context():
        assert check_overdue(utcnow() + timedelta(days=2)) == 0
    classify_and_sequence(app)
    kinds = [a["amendment"]["kind"] for a in client.get(
        f"/api/health/receipts/{receipt_id}", headers=hooked.headers).get_json()["amendments"]]
    assert kinds == ["risk_assessment", "review"]
    assert stored_events(client, hooked, VIOLATION) == []


@pytest.mark.parametrize("body", [{}, {"reviewer": "Dr B", "outcome": "maybe"},
                                  {"reviewer": "", "outcome": "approved"}, {"outcome": "approved"}])
def test_a_bad_review_is_refused(client, healthcare, body):
    receipt_id = ask(client, healthcare)
    response = client.post(f"/api/health/receipts/{receipt_id}/review", headers=healthcare.headers,
                           json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request"


def test_another_accounts_receipt_cannot_be_reviewed(client, healthcare, make_account):
    receipt_id = ask(client, healthcare)
    other = make_account(tier="healthcare")
    response = client.post(f"/api/health/receipts/{receipt_id}/review", headers=other.headers,
                           json={"reviewer": "Dr B", "outcome": "rejected"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "receipt_not_found"


def test_a_model_outside_the_approved_list_raises_one_violation(app, client, hooked):
    response = client.put("/api/health/settings", headers=hooked.headers,
                          json={"high_risk_models": ["gpt-4.1", " gpt-4.1 "]})
    assert response.get_json() == {"high_risk_models": ["gpt-4.1"]}
    assert client.get("/api/health/settings", headers=hooked.headers).get_json() == response.get_json()
    ask(client, hooked)
    classify_and_sequence(app)
    [event] = stored_events(client, hooked, VIOLATION)
    assert event["data"]["rule"] == "art_26_use_as_instructed"
    client.put("/api/health/settings", headers=hooked.headers, json={"high_risk_models": ["gpt-4o"]})
    ask(client, hooked)
    classify_and_sequence(app)
    assert len(stored_events(client, hooked, VIOLATION)) == 1


def test_concurrent_workers_assess_a_decision_once(app, client, hooked, tmp_path):
    ask(client, hooked)
    with app.app_context():
        cases: list[dict] = []
        sealer = risk_cases()
        drain_journal(app.config["AQTA_SETTINGS"].risk_journal_dir,
                      lambda raw, reject: cases.extend(sealer.open(data) for data in raw) or len(raw))
    [case] = cases
    results, start = [], threading.Barrier(4)

    def worker():
        with app.app_context():
            start.wait()
            results.append(assess(case))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 1
    classify_and_sequence(app)
    assert len(client.get(f"/api/health/receipts/{case['receipt_id']}",
                          headers=hooked.headers).get_json()["amendments"]) == 1
    assert len(stored_events(client, hooked, HIGH_RISK)) == 1


def test_the_patient_text_lands_nowhere(app, client, hooked, receiver, caplog, tmp_path, make_app):
    caplog.set_level(logging.DEBUG)
    receipt_id = ask(client, hooked)
    streamed = client.post("/v1/chat/completions", json={**DOSING, "stream": True}, headers=hooked.headers)
    assert b"receipt_id" in streamed.get_data()
    sealed = b"".join(p.read_bytes() for p in tmp_path.rglob("risk-journal/*.jsonl"))
    assert sealed
    classify_and_sequence(app)
    make_app(run_embedded_worker=True)  # delivers the webhooks
    client.post(f"/api/health/receipts/{receipt_id}/review", headers=hooked.headers,
                json={"reviewer": "Dr A", "outcome": "amended", "note": f"{CANARY} dose halved"})
    with app.app_context():
        check_overdue(utcnow() + timedelta(days=2))
        rows = "".join(str(list(model.select().dicts())) for model in ALL_MODELS)
    wait_for(lambda: len(receiver.received) >= 3, "the webhooks")
    bundle = client.get(f"/api/health/receipts/{receipt_id}", headers=hooked.headers).get_data(as_text=True)
    events = "".join(str(got.payload) for got in receiver.received)
    for where, text in [("tables", rows), ("logs", caplog.text), ("webhooks", events),
                        ("receipt", bundle), ("sealed journal", sealed.decode())]:
        assert CANARY not in text, f"the canary is in the {where}"


def test_with_redis_the_sealed_case_rides_the_stream_and_is_deleted_once_assessed(
        make_app, make_account, redis_url, redis_names):
    redis_app = make_app(redis_url=redis_url)
    account = make_account(tier="healthcare")
    client = redis_app.test_client()
    receipt_id = ask(client, account)
    stream = redis.Redis.from_url(redis_url)
    try:
        [(_, fields)] = stream.xrange(redis_names["risk_stream"])
        assert CANARY.encode() not in fields[b"r"]  # sealed
        with redis_app.app_context():
            assert drain_cases() == 1
            assert risk_repo.assessment(account.user.id, receipt_id).level == "high"
        assert stream.xlen(redis_names["risk_stream"]) == 0
    finally:
        stream.close()


def test_a_case_that_cannot_be_opened_is_set_aside_and_the_rest_assessed(app, client, healthcare):
    with app.app_context():
        foreign = RiskCases("another-secret-key-0123456789abcd", risk_cases().journal, None, "risk")
        foreign.keep_in_journal(foreign.seal(b'{"receipt_id": "rcpt_x"}'))
    receipt_id = ask(client, healthcare)
    with app.app_context():
        assert drain_cases() == 2  # both read
        assert risk_repo.assessment(healthcare.user.id, receipt_id) is not None
    rejected = Path(app.config["AQTA_SETTINGS"].risk_journal_dir, "rejected.log").read_text()
    assert "cannot be opened" in rejected and rejected.count("\n") == 1
