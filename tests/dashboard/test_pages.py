"""The dashboard's pages through the Flask test client: forms, CSRF, tiers, tenant isolation."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests

import storage.keys as keys_repo
import storage.loop_events as loop_events_repo
import storage.webhooks as hooks_repo
from app.healthcare.risk.assessment import drain_cases
from app.healthcare.sequencer import drain_leaves, publish
from storage.log_models import LogEntry
from tests.conftest import PASSWORD
from tests.dashboard.conftest import Visitor, csrf_token
from tests.fakes.oidc_issuer import FakeOidcIssuer
from tests.support import wait_for
from tests.support.request_records import request_record

PAGES = ["/dashboard", "/dashboard/settings/keys", "/dashboard/usage", "/dashboard/usage/requests",
         "/dashboard/loops", "/dashboard/budgets", "/dashboard/webhooks"]
CHAT = {"model": "mock-1", "messages": [{"role": "user", "content": "Hello"}]}


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_landing_page_says_what_aqta_is_and_links_onwards(visitor):
    page = text(visitor.get("/"))
    assert "OpenAI-compatible gateway" in page
    for link in ('href="/signup"', 'href="/login"', 'href="/docs"', 'id="quickstart"'):
        assert link in page


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_visitors_without_a_session_to_log_in(visitor, path):
    response = visitor.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("tier", ["free", "starter"])
def test_every_page_renders_for_a_signed_in_account(signed_in, tier):
    visitor, account = signed_in(tier)
    assert visitor.get("/").headers["Location"] == "/dashboard"
    for path in PAGES:
        response = visitor.get(path)
        assert response.status_code == 200, (path, text(response))
        assert account.user.email in text(response)


def test_sign_up_creates_the_account_and_opens_the_overview(visitor):
    response = visitor.submit("/signup", {"email": "Ada@Example.com", "password": "Fresh start 2026"})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    overview = text(visitor.get("/dashboard"))
    assert "ada@example.com" in overview and "Create your first API key" in overview


@pytest.mark.parametrize("email, password, status, message", [
    ("ada@example.com", "short", 400, "at least 10 characters"),
    ("not-an-email", "Fresh start 2026", 400, "email"),
    ("taken@example.com", "Fresh start 2026", 409, "already exists"),
])
def test_sign_up_shows_what_is_wrong(visitor, make_account, email, password, status, message):
    make_account(email="taken@example.com")
    response = visitor.submit("/signup", {"email": email, "password": password})
    assert response.status_code == status
    assert message in text(response) and 'role="alert"' in text(response)
    assert f'value="{email}"' in text(response)  # the email is kept; the password is not


def test_log_in_refuses_a_wrong_password_and_returns_to_the_asked_page(visitor, make_account):
    account = make_account()
    wrong = visitor.submit("/login", {"email": account.user.email, "password": "Wrong horse 1"})
    assert wrong.status_code == 401 and "The email or password is wrong." in text(wrong)
    right = visitor.submit("/login?next=/dashboard/loops",
                           {"email": account.user.email, "password": PASSWORD})
    assert right.headers["Location"] == "/dashboard/loops"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_log_in_never_redirects_off_the_site(visitor, make_account, target):
    account = make_account()
    response = visitor.submit(f"/login?next={target}",
                              {"email": account.user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/dashboard"


def test_log_out_ends_the_session(signed_in):
    visitor, _ = signed_in()
    response = visitor.submit("/dashboard", {}, action="/logout")
    assert response.headers["Location"] == "/login"
    assert visitor.get("/dashboard").status_code == 302
    assert visitor.get("/api/auth/me").status_code == 401


def test_forms_without_the_sessions_csrf_token_are_refused(signed_in, app):
    visitor, account = signed_in()
    missing = visitor.client.post("/dashboard/settings/keys", data={"name": "forged"})
    assert missing.status_code == 400 and "This form has expired" in text(missing)
    other = signed_in()[0]
    foreign = csrf_token_of(other, "/dashboard/settings/keys")
    forged = visitor.client.post("/dashboard/settings/keys", data={"name": "forged", "csrf_token": foreign})
    assert forged.status_code == 400
    with app.app_context():
        assert [key.name for key in keys_repo.list_for_user(account.user.id)] == ["test"]


def csrf_token_of(visitor, path: str) -> str:
    return csrf_token(text(visitor.get(path)))


def test_the_json_api_still_refuses_form_bodies(signed_in):
    visitor, _ = signed_in()
    response = visitor.client.post("/api/keys", data={"name": "form"})
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


def test_a_new_key_is_shown_once_with_its_limits_and_works(signed_in, app):
    visitor, account = signed_in("starter")
    created = visitor.submit("/dashboard/settings/keys",
                             {"name": "laptop", "rpm_limit": "7", "monthly_quota": "900"})
    assert created.status_code == 201
    plaintext = re.search(r'id="new-key" class="secret" readonly value="(sk-aqta-[^"]+)"',
                          text(created)).group(1)
    me = app.test_client().get("/api/auth/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.status_code == 200 and me.json["id"] == account.user.id
    listing = text(visitor.get("/dashboard/settings/keys"))
    assert plaintext not in listing
    assert "laptop" in listing and "7/min" in listing and "0 of 900" in listing
    assert f"{plaintext[:12]}…{plaintext[-4:]}" in listing


@pytest.mark.parametrize("field, other", [("rpm_limit", "monthly_quota"), ("monthly_quota", "rpm_limit")])
def test_a_new_key_can_lower_one_limit_and_keep_the_tiers_other(signed_in, app, field, other):
    visitor, account = signed_in("starter")
    created = visitor.submit("/dashboard/settings/keys", {"name": "laptop", field: "7", other: " "})
    assert created.status_code == 201
    with app.app_context():
        key = next(key for key in keys_repo.list_for_user(account.user.id) if key.name == "laptop")
    assert (getattr(key, field), getattr(key, other)) == (7, None)


@pytest.mark.parametrize("field, value", [("rpm_limit", "6"), ("monthly_quota", "501")])
def test_limits_above_the_tier_are_refused_before_a_key_is_made(signed_in, app, field, value):
    visitor, account = signed_in("free")
    response = visitor.submit("/dashboard/settings/keys", {"name": "greedy", field: value})
    assert response.status_code == 403 and f"{field} {value} is above your tier" in text(response)
    with app.app_context():
        assert [key.name for key in keys_repo.list_for_user(account.user.id)] == ["test"]


def test_revoking_asks_first_then_the_key_stops_working(signed_in, app):
    visitor, account = signed_in()
    path = f"/dashboard/settings/keys/{account.key_id}/revoke"
    confirm = visitor.get(path)
    assert confirm.status_code == 200 and "cannot be undone" in text(confirm)
    assert app.test_client().get("/api/auth/me", headers=account.headers).status_code == 200
    done = visitor.submit(path, {})
    assert done.headers["Location"] == "/dashboard/settings/keys"
    assert "is revoked" in text(visitor.get("/dashboard/settings/keys"))
    assert app.test_client().get("/api/auth/me", headers=account.headers).status_code == 401


def test_one_account_cannot_touch_anothers_keys(signed_in, app):
    owner, owner_account = signed_in()
    intruder, _ = signed_in()
    path = f"/dashboard/settings/keys/{owner_account.key_id}/revoke"
    assert intruder.get(path).status_code == 404
    token = csrf_token_of(intruder, "/dashboard/settings/keys")
    assert intruder.client.post(path, data={"csrf_token": token}).status_code == 404
    assert app.test_client().get("/api/auth/me", headers=owner_account.headers).status_code == 200


def test_free_tier_sees_this_months_cost_on_a_chart_and_an_upgrade_note(signed_in, app, store):
    visitor, account = signed_in("free")
    chat = app.test_client().post("/v1/chat/completions", json=CHAT, headers=account.headers)
    assert chat.status_code == 200
    store([request_record(account.user.id, account.key_id, datetime.now(UTC), cost="0.00012345")])
    for path in ("/dashboard", "/dashboard/usage"):
        page = text(visitor.get(path))
        assert "1 of 500" in page
        assert "<title>" in page and ": €0.00012345</title>" in page  # the day's bar
        assert "€0.000123" in page
    assert "Upgrade to the starter tier" in text(visitor.get("/dashboard/usage"))
    history = text(visitor.get("/dashboard/usage/requests"))
    assert "Analytics needs the starter tier or above; this account is on the free tier." in history
    split = visitor.get("/dashboard/usage?group_by=model")
    assert split.status_code == 403 and "not split" in text(split)
    assert "1 of 500" in text(visitor.get("/dashboard/settings/keys"))


@pytest.mark.parametrize("mode", ["embedded", "redis"])
def test_each_keys_count_and_the_accounts_come_from_the_quota_counters(make_app, make_account, request, mode):
    redis = {}
    if mode == "redis":
        redis = {"redis_url": request.getfixturevalue("redis_url"),
                 "redis_key_prefix": request.getfixturevalue("jobs_namespace") + ":"}
    app = make_app(**redis)
    client, account = app.test_client(), make_account(tier="free")
    make_account(tier="free")  # someone else, with counters of their own
    visitor = Visitor(app.test_client())
    assert visitor.submit("/login", {"email": account.user.email, "password": PASSWORD}).status_code == 302
    assert "0 of 500" in text(visitor.get("/dashboard/usage"))
    second = client.post("/api/keys", json={"name": "second"}, headers=account.headers).json["key"]
    for key, times in ((account.key, 2), (second, 1)):
        for _ in range(times):
            chat = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"})
            assert chat.status_code == 200
    assert "3 of 500" in text(visitor.get("/dashboard/usage"))
    keys_page = text(visitor.get("/dashboard/settings/keys"))
    assert "2 of 500" in keys_page and "1 of 500" in keys_page


def test_usage_charts_and_tables_show_the_costs(signed_in, store):
    visitor, account = signed_in("starter")
    now = datetime.now(UTC)
    store([request_record(account.user.id, account.key_id, now - timedelta(minutes=5), cost="0.25"),
           request_record(account.user.id, account.key_id, now - timedelta(days=2), cost="1.5",
                          model="claude-3-5-sonnet", provider="anthropic")])
    page = text(visitor.get("/dashboard/usage"))
    assert 'data-testid="total-cost">€1.75<' in page
    assert page.count("<rect ") == 4  # one cost bar and one requests bar per busy day
    assert "class=\"num\">1.50000000</td>" in page
    split = text(visitor.get("/dashboard/usage?group_by=model&interval=week"))
    assert "claude-3-5-sonnet" in split and 'class="legend"' in split


@pytest.mark.parametrize("query, message", [
    ("interval=year", "Interval: Must be one of"),
    ("since=2026-01-10&until=2026-01-01", "since must be before until"),
    ("since=yesterday", "Since: Not a valid date"),
])
def test_a_bad_usage_query_is_explained(signed_in, query, message):
    visitor, _ = signed_in("starter")
    response = visitor.get(f"/dashboard/usage?{query}")
    assert response.status_code == 400 and message in text(response)


def test_the_request_history_filters_and_pages_like_the_api(signed_in, store):
    visitor, account = signed_in("pro")
    now = datetime.now(UTC)
    records = store([request_record(account.user.id, account.key_id, now - timedelta(minutes=n),
                                    model=model) for n, model in enumerate(["gpt-4o", "sonar", "gpt-4o"])])
    first = text(visitor.get("/dashboard/usage/requests?model=gpt-4o&limit=1"))
    assert records[0].request_id in first and records[2].request_id not in first
    next_link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = text(visitor.get(next_link))
    assert records[2].request_id in second and records[1].request_id not in second
    assert 'rel="next"' not in second and "First page" in second
    bad = visitor.get("/dashboard/usage/requests?cursor=nonsense")
    assert bad.status_code == 400 and "cursor is not one this API returned" in text(bad)


def test_budgets_are_set_checked_and_removed(signed_in, make_account):
    visitor, account = signed_in("starter")
    saved = visitor.submit("/dashboard/budgets", {"key_id": "", "monthly_eur": "20",
                                                   "thresholds": "50, 80,100", "hard_stop": "on"})
    assert saved.headers["Location"] == "/dashboard/budgets"
    page = text(visitor.get("/dashboard/budgets"))
    assert "Whole account" in page and "€20.00" in page and "thresholds at 50%, 80%, 100%" in page
    for fields, status, message in [
        ({"monthly_eur": "0"}, 400, "Monthly eur: must be a decimal string above 0"),
        ({"monthly_eur": "5", "thresholds": "fifty"}, 400, "Thresholds: give whole numbers"),
        ({"monthly_eur": "5", "key_id": make_account().key_id}, 404, "No API key"),
    ]:
        response = visitor.submit("/dashboard/budgets", fields)
        assert response.status_code == status and message in text(response)
    visitor.submit("/dashboard/budgets", {"action": "remove", "key_id": ""})
    assert "No budgets yet." in text(visitor.get("/dashboard/budgets"))


def test_loop_events_are_listed(signed_in, app):
    visitor, account = signed_in()
    with app.app_context():
        loop_events_repo.record(account.key_id, account.user.id, "near_duplicate", 6, 60.0, ["a"] * 6)
    page = text(visitor.get("/dashboard/loops"))
    assert "near duplicate" in page and "60 s" in page and "test …" in page


def test_an_unsafe_webhook_url_is_explained(signed_in):
    visitor, _ = signed_in()
    response = visitor.submit("/dashboard/webhooks", {"url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 400 and 'role="alert"' in text(response)
    assert "No endpoints yet." in text(response)


def test_one_account_cannot_see_or_touch_anothers_webhooks_or_loops(signed_in, app):
    owner, owner_account = signed_in()
    intruder, _ = signed_in()
    with app.app_context():
        endpoint = hooks_repo.create_endpoint(owner_account.user.id, "https://hooks.example/a",
                                              "sealed-not-a-secret")
        loop_events_repo.record(owner_account.key_id, owner_account.user.id, "cycle", 4, 30.0, ["x"] * 4)
    assert "hooks.example" in text(owner.get("/dashboard/webhooks"))
    assert "cycle" in text(owner.get("/dashboard/loops"))
    assert "hooks.example" not in text(intruder.get("/dashboard/webhooks"))
    assert "cycle" not in text(intruder.get("/dashboard/loops"))
    page = f"/dashboard/webhooks/{endpoint.id}"
    assert intruder.get(page).status_code == 404
    assert intruder.get(f"{page}/delete").status_code == 404
    token = csrf_token_of(intruder, "/dashboard/webhooks")
    for action in ("test", "delete", "rotate-secret"):
        assert intruder.client.post(f"{page}/{action}", data={"csrf_token": token}).status_code == 404
    assert owner.get(page).status_code == 200


def test_pages_are_never_cached_but_their_assets_may_be(signed_in):
    visitor, _ = signed_in()
    assert visitor.get("/dashboard/settings/keys").headers["Cache-Control"] == "no-store"
    assert "no-store" not in visitor.get("/dashboard/static/dashboard.css").headers.get("Cache-Control", "")


def test_a_form_posted_after_the_session_ended_leads_to_log_in_then_the_overview(signed_in):
    visitor, _ = signed_in()
    token = csrf_token_of(visitor, "/dashboard/settings/keys")
    visitor.client.post("/logout", data={"csrf_token": token})
    token = csrf_token_of(visitor, "/login")
    response = visitor.client.post("/dashboard/settings/keys", data={"name": "x", "csrf_token": token})
    assert response.headers["Location"] == "/login"


@pytest.fixture
def google_issuer():
    fake = FakeOidcIssuer(client_id="google-client").start()
    yield fake
    fake.stop()


def test_there_are_no_identity_provider_buttons_unless_configured(visitor):
    for path in ("/login", "/signup"):
        assert "Sign in with" not in text(visitor.get(path))


def test_the_google_button_signs_in_and_lands_on_the_overview(make_app, google_issuer):
    client = make_app(oauth={"google": google_issuer.client("google")}).test_client()
    login = text(client.get("/login"))
    assert "Sign in with Microsoft" not in login
    button = re.search(r'href="([^"]+)">Sign in with Google<', login).group(1)
    to_provider = client.get(button)
    back = requests.get(to_provider.headers["Location"], allow_redirects=False, timeout=5)
    callback = urlsplit(back.headers["Location"])
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.headers["Location"] == "/dashboard"
    assert "Overview" in text(client.get("/dashboard"))


# -- healthcare receipts -------------------------------------------------------------------------

@pytest.fixture
def sequence(app):
    """Run the sequencer's work once, as its worker would: drain, number, sign."""

    def run():
        with app.app_context():
            drain_leaves()
            publish()

    return run


def answers(app, account, count: int) -> list[dict]:
    client = app.test_client()
    replies = [client.post("/v1/chat/completions", json=CHAT, headers=account.headers)
               for _ in range(count)]
    assert all(reply.status_code == 200 for reply in replies)
    return [reply.get_json() for reply in replies]


def test_receipts_are_listed_filtered_and_paged_like_the_api(signed_in, app, sequence):
    visitor, account = signed_in("healthcare")
    ids = [answer["aqta"]["receipt_id"] for answer in answers(app, account, 3)]
    sequence()
    listing = visitor.get("/dashboard/receipts")
    assert listing.status_code == 200
    page = text(listing)
    assert all(receipt_id in page for receipt_id in ids) and "sequenced" in page
    assert '<a href="/dashboard/receipts" aria-current="page">Receipts</a>' in page  # in the menu
    first = text(visitor.get("/dashboard/receipts?limit=2&model=mock-1"))
    assert ids[2] in first and ids[1] in first and ids[0] not in first
    next_link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = text(visitor.get(next_link))
    assert ids[0] in second and ids[2] not in second and 'rel="next"' not in second
    assert ids[0] not in text(visitor.get("/dashboard/receipts?model=gpt-4o"))
    bad = visitor.get("/dashboard/receipts?cursor=nonsense")
    assert bad.status_code == 400 and 'role="alert"' in text(bad)


def test_a_receipt_shows_its_proof_and_verifies_with_its_commitments(signed_in, app, sequence):
    visitor, account = signed_in("healthcare")
    answer = answers(app, account, 1)[0]
    receipt_id = answer["aqta"]["receipt_id"]
    path = f"/dashboard/receipts/{receipt_id}"
    with app.app_context():
        drain_leaves()  # stored, not yet numbered
    assert "waiting for its place in the log" in text(visitor.get(path))
    sequence()
    detail = text(visitor.get(path))
    assert answer["aqta"]["request_id"] in detail and "Signed checkpoint" in detail
    checked = visitor.submit(path, {"request": json.dumps(CHAT), "answer": json.dumps(answer)},
                             action=f"{path}/verify")
    assert checked.status_code == 200
    assert "Valid: every check passed." in text(checked) and "answer commitment" in text(checked)
    altered = visitor.submit(path, {"request": json.dumps({**CHAT, "temperature": 1})},
                             action=f"{path}/verify")
    assert "Not valid: a check failed." in text(altered)
    assert "does not match the receipt" in text(altered)
    broken = visitor.submit(path, {"answer": "{not json"}, action=f"{path}/verify")
    assert broken.status_code == 400 and "The answer is not valid JSON" in text(broken)


def test_a_receipt_shows_its_risk_and_takes_a_review(signed_in, app):
    visitor, account = signed_in("healthcare")
    reply = app.test_client().post("/v1/chat/completions", json=CHAT,
                                   headers={**account.headers, "X-Aqta-Decision-Type": "dosing"})
    path = f"/dashboard/receipts/{reply.get_json()['aqta']['receipt_id']}"
    assert "not assessed yet" in text(visitor.get(path))
    with app.app_context():
        drain_cases()
    page = text(visitor.get(path))
    assert '<dd data-testid="risk-level">high (0.900)</dd>' in page and "medication dosing" in page
    assert "No clinician has reviewed this answer yet." in page
    done = visitor.submit(path, {"reviewer": "Dr A. Clinician", "outcome": "approved",
                                 "note": "Dose checked."}, action=f"{path}/review")
    assert done.status_code == 302 and done.headers["Location"].endswith("#review")
    assert "<strong>approved</strong> by Dr A. Clinician" in text(visitor.get(path))
    refused = visitor.submit(path, {"reviewer": "Dr B", "outcome": "maybe"}, action=f"{path}/review")
    assert refused.status_code == 400 and 'role="alert"' in text(refused)


@pytest.mark.parametrize("tier", ["free", "pro"])
def test_other_tiers_see_what_receipts_are_not_an_error(signed_in, tier):
    visitor, account = signed_in(tier)
    for path in ("/dashboard/receipts", "/dashboard/receipts/rcpt_x"):
        response = visitor.get(path)
        assert response.status_code == 200
        assert "Receipts come with the healthcare tier" in text(response)
    exported = visitor.submit("/dashboard", {"format": "csv"}, action="/dashboard/receipts/export")
    assert exported.status_code == 403 and "Receipts come with the healthcare tier" in text(exported)
    assert 'href="/dashboard/receipts"' not in text(visitor.get("/dashboard"))


def test_another_accounts_receipts_and_exports_are_not_found(signed_in, app, sequence):
    owner, owner_account = signed_in("healthcare")
    intruder, _ = signed_in("healthcare")
    receipt_id = answers(app, owner_account, 1)[0]["aqta"]["receipt_id"]
    sequence()
    assert owner.get(f"/dashboard/receipts/{receipt_id}").status_code == 200
    assert receipt_id not in text(intruder.get("/dashboard/receipts"))
    stolen = intruder.get(f"/dashboard/receipts/{receipt_id}")
    assert stolen.status_code == 404 and f"No receipt {receipt_id} in this account" in text(stolen)
    token = csrf_token_of(intruder, "/dashboard/receipts")
    verify = intruder.client.post(f"/dashboard/receipts/{receipt_id}/verify", data={"csrf_token": token})
    assert verify.status_code == 404
    job_path = owner.submit("/dashboard/receipts", {"format": "jsonl"},
                            action="/dashboard/receipts/export").headers["Location"]
    assert owner.get(job_path).status_code == 200
    assert intruder.get(job_path).status_code == 404
    assert intruder.get(f"{job_path}/download").status_code == 404


def test_an_export_runs_and_its_file_is_downloaded(make_app, make_account):
    app = make_app(run_embedded_worker=True)
    account = make_account(tier="healthcare")
    visitor = Visitor(app.test_client())
    visitor.submit("/login", {"email": account.user.email, "password": PASSWORD})
    ids = [answer["aqta"]["receipt_id"] for answer in answers(app, account, 2)]
    wait_for(lambda: text(visitor.get("/dashboard/receipts")).count(">sequenced<") == 2,
             "the receipts to be sequenced")
    # Numbered first, then signed a moment later: an export holds the receipts a checkpoint covers.
    wait_for(lambda: all("Signed checkpoint" in text(visitor.get(f"/dashboard/receipts/{receipt_id}"))
                         for receipt_id in ids), "a checkpoint covering the receipts")
    early = visitor.get("/dashboard/receipts/exports/job_x/download")
    assert early.status_code == 404
    started = visitor.submit("/dashboard/receipts", {"format": "csv"},
                             action="/dashboard/receipts/export")
    assert started.status_code == 302
    job_page = started.headers["Location"]
    done = wait_for(lambda: "Download receipts-" in (page := text(visitor.get(job_page))) and page,
                    "the export to finish")
    assert "2 receipts" in done
    download = re.search(r'href="([^"]+/download)"', done).group(1)
    rows = list(csv.DictReader(io.StringIO(visitor.get(download).get_data(as_text=True))))
    assert [row["id"] for row in rows] == ids


def test_a_bad_export_range_is_explained_by_the_export_form(signed_in):
    visitor, _ = signed_in("healthcare")
    response = visitor.submit("/dashboard/receipts", {"format": "csv", "since": "2026-02-01",
                                                      "until": "2026-01-01"},
                              action="/dashboard/receipts/export")
    assert response.status_code == 400
    assert "since must be before until." in text(response)
    assert 'value="2026-02-01"' in text(response)


def test_a_damaged_receipt_row_is_shown_as_unreadable_and_fails_verification(signed_in, app, sequence):
    visitor, account = signed_in("healthcare")
    receipt_id = answers(app, account, 1)[0]["aqta"]["receipt_id"]
    sequence()
    with app.app_context():
        LogEntry.update(leaf_data="not json").where(LogEntry.id == receipt_id).execute()
    assert "unreadable" in text(visitor.get("/dashboard/receipts"))
    path = f"/dashboard/receipts/{receipt_id}"
    detail = visitor.get(path)
    assert detail.status_code == 200 and "unreadable" in text(detail)
    checked = visitor.submit(path, {}, action=f"{path}/verify")
    assert checked.status_code == 200 and "Not valid: a check failed." in text(checked)
