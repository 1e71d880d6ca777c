"""The audit trail through HTTP and the CLI: every action once, with its actor and entity; each
event a leaf that verifies; the account's own events only; FHIR R5; retention."""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from click.testing import CliRunner

import storage.costs as costs_repo
from app.cli import main
from app.compliance.reports import jobs as reports
from app.healthcare import audit, exports, retention
from app.healthcare.leaves import LeafError
from app.healthcare.offline import verify_file
from app.healthcare.transparency import transparency_log
from app.healthcare.verify import all_ok, verify_bundle
from storage.ids import utcnow
from storage.log_models import LogEntry
from tests.conftest import PASSWORD, first_backend_only
from tests.fakes.oidc_issuer import FakeOidcIssuer

TRAIL = "/api/compliance/audit-trail"
PUBLIC_URL = "https://93.184.215.14/hooks"  # a public address literal: no DNS needed to check it
CANARY = "canary-phi-7f3a9c"


@pytest.fixture
def google():
    issuer = FakeOidcIssuer(client_id="google-client").start()
    yield issuer
    issuer.stop()


@pytest.fixture
def oauth_app(make_app, google, tmp_path):
    return make_app(oauth={"google": google.client("google")}, export_dir=str(tmp_path / "exports"))


@pytest.fixture
def cli(database_url, oauth_app):
    def invoke(*args: str) -> str:
        env = {"DATABASE_URL": database_url, "SECRET_KEY": "cli-test-secret-key-0123456789"}
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output
    return invoke


def trail(client, headers, **query) -> list[dict]:
    """Every page of the trail (small pages, so the cursor is exercised), newest first."""
    events, cursor = [], None
    while True:
        params = {**query, "limit": 4, **({"cursor": cursor} if cursor else {})}
        response = client.get(TRAIL, headers=headers, query_string=params)
        assert response.status_code == 200, response.get_json()
        events += response.get_json()["data"]
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            return events


def summary(bundle: dict) -> tuple:
    event = bundle["audit_event"]
    return (event["type"], event["action"], event["outcome"], event["agent"]["id"],
            event["entity"]["type"], event["entity"]["id"])


def ok(response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json(silent=True)


def test_every_action_is_in_the_trail_once_with_its_actor_and_entity(oauth_app, cli, google, sequence,
                                                                     tmp_path):
    app, client = oauth_app, oauth_app.test_client()
    email = "ada@example.com"
    user = ok(client.post("/api/auth/signup", json={"email": email, "password": PASSWORD}), 201)["user"]
    uid = user["id"]
    operator_key = cli("create-key", "--email", email, "--tier", "healthcare", "--scope", "admin")
    admin = {"Authorization": f"Bearer {operator_key.splitlines()[-1]}"}
    admin_id = ok(client.get("/api/keys", headers=admin))["data"][0]["id"]
    cli("set-limits", admin_id, "--rpm", "5000")
    ok(client.post("/api/auth/logout", json={}), 204)
    assert client.post("/api/auth/login", json={"email": email, "password": "Wrong 9 password!"}
                       ).status_code == 401
    ok(client.post("/api/auth/login", json={"email": email, "password": PASSWORD}))
    google.user = {"sub": "google-ada", "email": email}
    ok(client.post("/api/auth/oauth-signin", json={"provider": "google", "id_token": google.mint()}))
    key_id = ok(client.post("/api/keys", json={"name": "app"}), 201)["id"]
    ok(client.patch(f"/api/keys/{key_id}", json={"rpm_limit": 10}))
    ok(client.delete(f"/api/keys/{key_id}"), 204)
    ok(client.put("/api/budgets", headers=admin, json={"monthly_eur": "10"}))
    endpoint = ok(client.post("/api/webhooks", headers=admin, json={"url": PUBLIC_URL}), 201)["id"]
    ok(client.patch(f"/api/webhooks/{endpoint}", headers=admin, json={"description": "ops"}))
    ok(client.post(f"/api/webhooks/{endpoint}/rotate-secret", headers=admin, json={}))
    ok(client.delete(f"/api/webhooks/{endpoint}", headers=admin), 204)
    answer = client.post("/v1/chat/completions", headers=admin,
                         json={"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]})
    receipt = ok(answer)["aqta"]["receipt_id"]
    sequence()
    ok(client.get("/api/health/receipts", headers=admin))
    ok(client.get(f"/api/health/receipts/{receipt}", headers=admin))
    ok(client.post(f"/api/health/receipts/{receipt}/verify", headers=admin, json={}))
    review = ok(client.post(f"/api/health/receipts/{receipt}/review", headers=admin,
                            json={"reviewer": "Dr Ada", "outcome": "approved", "note": "fine"}), 201)
    ok(client.put("/api/health/settings", headers=admin, json={"high_risk_models": ["mock-1"]}))
    job = ok(client.get("/api/health/receipts/export", headers=admin), 202)["id"]
    with app.app_context():  # the worker's part
        exports.run(job, uid, "jsonl", None, None, str(tmp_path / "exports"),
                    transparency_log().inclusion_many)
    assert client.get(f"/api/health/receipts/export/{job}/download", headers=admin).status_code == 200
    today = utcnow().date()
    report = ok(client.post("/api/compliance/report", headers=admin,
                            json={"format": "json", "since": today.isoformat()}), 202)["id"]
    with app.app_context():  # the worker's part
        reports.run(report, uid, "healthcare", "json", today, today + timedelta(days=1),
                    str(tmp_path / "exports"))
    assert client.get(f"/api/compliance/report/{report}/download", headers=admin).status_code == 200
    sequence()

    events = trail(client, admin)
    operator = next(e["audit_event"]["agent"]["id"] for e in events
                    if e["audit_event"]["type"] == "account.tier_changed")
    assert operator.startswith("operator:")
    S, R, U, D, E = "success", "R", "U", "D", "E"
    assert Counter(summary(e) for e in events) == Counter([
        ("account.created", "C", S, uid, "account", uid),
        ("account.tier_changed", U, S, operator, "account", uid),
        ("key.created", "C", S, operator, "key", admin_id),
        ("key.limits_changed", U, S, operator, "key", admin_id),
        ("auth.logout", E, S, uid, "account", uid),
        ("auth.login", E, "failure", uid, "account", uid),
        ("auth.login", E, S, uid, "account", uid),
        ("auth.oauth_signin", E, S, uid, "account", uid),
        ("key.created", "C", S, uid, "key", key_id),
        ("key.limits_changed", U, S, uid, "key", key_id),
        ("key.revoked", D, S, uid, "key", key_id),
        ("budget.changed", U, S, admin_id, "budget", uid),
        ("webhook_endpoint.created", "C", S, admin_id, "webhook_endpoint", endpoint),
        ("webhook_endpoint.updated", U, S, admin_id, "webhook_endpoint", endpoint),
        ("webhook_endpoint.secret_rotated", U, S, admin_id, "webhook_endpoint", endpoint),
        ("webhook_endpoint.deleted", D, S, admin_id, "webhook_endpoint", endpoint),
        ("receipt.listed", R, S, admin_id, "receipt", "*"),
        ("receipt.read", R, S, admin_id, "receipt", receipt),
        ("receipt.verified", E, S, admin_id, "receipt", receipt),
        ("receipt.reviewed", U, S, admin_id, "receipt", receipt),
        ("healthcare_settings.changed", U, S, admin_id, "account", uid),
        ("export.requested", "C", S, admin_id, "export", job),
        ("export.downloaded", R, S, admin_id, "export", job),
        ("report.requested", "C", S, admin_id, "report", report),
        ("report.generated", "C", S, "compliance.report", "report", report),
        ("report.downloaded", R, S, admin_id, "report", report),
    ])
    reviewed = next(e["audit_event"] for e in events if e["audit_event"]["type"] == "receipt.reviewed")
    assert reviewed["detail"]["amendment_id"] == review["amendment"]["id"]
    recorded = [e["audit_event"]["recorded"] for e in events]
    assert recorded == sorted(recorded, reverse=True)
    web = next(e["audit_event"] for e in events if e["audit_event"]["type"] == "auth.login")
    assert web["agent"]["network"] == "127.0.0.1" and web["source"]["type"] == "web"
    with app.app_context():
        tlog = transparency_log()
        verifiers = tlog.verifiers()
        assert all(all_ok(verify_bundle(e, verifiers, tlog.origin)) for e in events)
    offline = verify_file("\n".join(json.dumps(e) for e in events), verifiers)
    assert len(offline) == len(events) and all(o.ok for o in offline)


def test_an_account_sees_its_own_events_filtered_and_only_on_the_healthcare_tier(client, make_account):
    mine, theirs, free = (make_account(tier="healthcare"), make_account(tier="healthcare"),
                          make_account(tier="free"))
    first = ok(client.post("/api/keys", headers=mine.headers, json={"name": "a"}), 201)["id"]
    ok(client.delete(f"/api/keys/{first}", headers=mine.headers), 204)
    ok(client.post("/api/keys", headers=theirs.headers, json={"name": "b"}), 201)

    assert [summary(e)[0] for e in trail(client, mine.headers)] == ["key.revoked", "key.created"]
    assert [summary(e)[0] for e in trail(client, mine.headers, action="key.created")] == ["key.created"]
    assert len(trail(client, mine.headers, entity_type="key", entity_id=first)) == 2
    assert trail(client, mine.headers, actor=theirs.key_id) == []
    assert len(trail(client, mine.headers, actor=mine.key_id)) == 2
    assert trail(client, mine.headers, since="2999-01-01") == []
    assert trail(client, mine.headers, since="2026-02-01", until="2026-01-01") == []  # an empty range
    assert len(trail(client, mine.headers, until="2999-01-01")) == 2
    assert [summary(e)[0] for e in trail(client, theirs.headers)] == ["key.created"]
    refused = client.get(TRAIL, headers=free.headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_tier"


@pytest.mark.parametrize("method, path, params, action", [
    ("POST", "/api/compliance/report", {"json": {"format": "json", "month": "2026-01"}}, "report.requested"),
    ("GET", "/api/health/receipts/export", {"query_string": {"format": "jsonl"}}, "export.requested"),
])
def test_a_job_asked_for_while_the_queue_is_down_is_in_the_trail_naming_its_failed_job(
        make_app, make_account, private_redis, method, path, params, action):
    # The private Redis is not started, so the broker cannot take the job. The request is
    # recorded before the job is handed to a worker (which may count it in what it builds).
    client = make_app(redis_url=private_redis.url).test_client()
    account = make_account(tier="healthcare")
    response = client.open(path, method=method, headers=account.headers, **params)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "job_queue_unavailable"
    [requested] = trail(client, account.headers, action=action)
    assert requested["audit_event"]["agent"]["id"] == account.key_id
    job = ok(client.get(f"/api/jobs/{requested['audit_event']['entity']['id']}", headers=account.headers))
    assert job["status"] == "failed" and "queue was unavailable" in job["error"]


@pytest.mark.parametrize("query", [
    {"since": "yesterday"}, {"until": "2026-13-01"}, {"limit": 0},
    {"format": "xml"}, {"cursor": "not-a-cursor"}, {"action": "x" * 81},
])
def test_bad_filters_are_invalid_requests(request, client, make_account, query):
    first_backend_only(request, "validation does not touch the database")
    response = client.get(TRAIL, headers=make_account(tier="healthcare").headers, query_string=query)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_a_tampered_audit_event_fails_verification(app, client, make_account, sequence):
    account = make_account(tier="healthcare")
    key_id = ok(client.post("/api/keys", headers=account.headers, json={"name": "a"}), 201)["id"]
    sequence()
    with app.app_context():
        entry = LogEntry.get(LogEntry.leaf_type == "audit_event")
        leaf = json.loads(entry.leaf_data)
        leaf["entity"]["id"] = "key_someone-else"
        LogEntry.update(leaf_data=json.dumps(leaf, sort_keys=True, separators=(",", ":"))
                        ).where(LogEntry.id == entry.id).execute()
        verifiers = transparency_log().verifiers()
    [bundle] = trail(client, account.headers)
    assert bundle["audit_event"]["entity"]["id"] == "key_someone-else" != key_id
    checks = {c.name: c.ok for c in verify_bundle(bundle, verifiers)}
    assert checks["checkpoint_signature"] and not checks["inclusion_proof"]
    assert [o.ok for o in verify_file(json.dumps(bundle), verifiers)] == [False]


def test_the_fhir_bundle_is_valid_r5(request, client, make_account, sequence):
    first_backend_only(request, "the translation does not depend on the database")
    bundle_model = pytest.importorskip("fhir.resources.bundle").Bundle
    account = make_account(tier="healthcare")
    for name in ("a", "b", "c"):
        ok(client.post("/api/keys", headers=account.headers, json={"name": name}), 201)
    sequence()
    ok(client.post("/api/keys", headers=account.headers, json={"name": "pending"}), 201)
    response = client.get(TRAIL, headers=account.headers, query_string={"format": "fhir", "limit": 3})
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    bundle = bundle_model.model_validate_json(response.get_data())
    assert bundle.type == "searchset" and len(bundle.entry) == 3
    event = bundle.entry[0].resource
    assert event.get_resource_type() == "AuditEvent" and event.action == "C"
    assert event.code.coding[0].code == "key.created" and event.outcome.code.code == "0"
    assert event.agent[0].who.identifier.value == account.key_id
    assert [link.relation for link in bundle.link] == ["self", "next"]
    rest = client.get(next(link.url for link in bundle.link if link.relation == "next"),
                      headers=account.headers)
    assert len(bundle_model.model_validate_json(rest.get_data()).entry) == 1


def test_no_secret_and_no_patient_text_reaches_an_event(request, app, client, make_account, chat, sequence):
    first_backend_only(request, "what an event holds does not depend on the database")
    account = make_account(tier="healthcare", email=f"{CANARY}@example.com")
    created = ok(client.post("/api/keys", headers=account.headers, json={"name": CANARY}), 201)
    hook = ok(client.post("/api/webhooks", headers=account.headers,
                          json={"url": PUBLIC_URL, "description": CANARY}), 201)
    ok(client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=account.headers, json={}))
    client.post("/api/auth/login", json={"email": account.user.email, "password": f"Wrong {CANARY} 9!"})
    prompt = [{"role": "user", "content": f"Patient {CANARY} reports chest pain"}]
    receipt = chat(account, messages=prompt).get_json()["aqta"]["receipt_id"]
    sequence()
    ok(client.post(f"/api/health/receipts/{receipt}/verify", headers=account.headers,
                   json={"request": {"model": "mock-1", "messages": prompt}}))
    with app.app_context():
        stored = [e.leaf_data for e in LogEntry.select().where(LogEntry.leaf_type == "audit_event")]
    assert len(stored) >= 5
    for text in stored:
        for secret in (CANARY, created["key"], hook["secret"], PASSWORD):
            assert secret not in text


def test_expiry_forgets_old_content_keeps_every_proof_and_is_audited(app, client, make_account, chat,
                                                                     sequence):
    account = make_account(tier="healthcare")
    old_key = ok(client.post("/api/keys", headers=account.headers, json={"name": "old"}), 201)["id"]
    old_receipt = chat(account).get_json()["aqta"]["receipt_id"]
    sequence()
    with app.app_context():  # the request log's retention leaves receipts and events alone
        costs_repo.apply_retention(1, now=utcnow() + timedelta(days=30))
    assert len(trail(client, account.headers)) == 1
    ok(client.get(f"/api/health/receipts/{old_receipt}", headers=account.headers))
    sequence()  # only sequenced leaves expire
    later = utcnow() + timedelta(days=app.config["AQTA_SETTINGS"].log_retention_days, seconds=1)
    with app.app_context():
        expired = retention.expire(now=later)
    assert expired == {account.user.id: {"audit_event": 2, "receipt": 1}}  # the key and the read
    sequence()
    events = trail(client, account.headers)
    assert [summary(e)[:2] for e in events] == [("log.content_expired", "D")]
    assert events[0]["audit_event"]["detail"]["receipt"] == 1
    assert client.get(f"/api/health/receipts/{old_receipt}", headers=account.headers).status_code == 404
    with app.app_context():
        assert LogEntry.get(LogEntry.id == old_receipt).leaf_data == ""
        verifiers = transparency_log().verifiers()
    assert all_ok(verify_bundle(events[0], verifiers))  # a later leaf still proves against the tree
    assert old_key not in json.dumps(events)


@pytest.mark.parametrize("changes, words", [
    ({"detail": {"note": "x" * 101}}, "at most 100 characters"),
    ({"detail": {"ratio": 0.5}}, "strings, integers, booleans"),
    ({"detail": {"tags": ["ok", {"nested": 1}]}}, "strings, integers, booleans"),
    ({"action_code": "X"}, "action code"),
    ({"outcome": "maybe"}, "outcome"),
])
def test_record_refuses_what_an_event_may_not_hold(request, app, changes, words):
    first_backend_only(request, "refused before the database is touched")
    call = {"action_code": audit.CREATE, "detail": None, "outcome": audit.SUCCESS, **changes}
    with app.app_context(), pytest.raises(LeafError, match=words):
        audit.record(audit.REPORT_GENERATED, call["action_code"], account_id="usr_x",
                     entity_type=audit.REPORT, entity_id="job_x", outcome=call["outcome"],
                     detail=call["detail"])
    with app.app_context():
        assert LogEntry.select().count() == 0
