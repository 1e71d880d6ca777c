"""API keys through HTTP: create, list, revoke, and isolation between users."""
import hashlib
import io
import logging
from datetime import datetime, timedelta

import pytest

import storage.keys as keys_repo
from providers.base import ProviderSettings
from storage.ids import utcnow
from storage.models import ApiKey
from tests.conftest import PASSWORD


def signed_in(client, email="owner@example.com"):
    assert client.post("/api/auth/signup", json={"email": email, "password": PASSWORD}).status_code == 201
    return client


def test_create_shows_the_key_once_and_stores_only_its_hash(app, client):
    signed_in(client)
    response = client.post("/api/keys", json={"name": "ci"})
    assert response.status_code == 201
    created = response.json
    key = created["key"]
    assert key.startswith("sk-aqta-") and len(key) == len("sk-aqta-") + 43  # 256 random bits, as documented
    assert created["prefix"] == key[:12] and created["last_four"] == key[-4:]
    assert created["name"] == "ci" and created["tier"] == "free"
    listed = client.get("/api/keys").json["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    with app.app_context():
        stored = ApiKey.get_by_id(created["id"])
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {str(v) for v in stored.__data__.values()}


def test_a_key_authenticates_and_records_last_use(client, app):
    signed_in(client)
    key = client.post("/api/keys", json={"scope": "admin"}).json["key"]
    other = app.test_client()
    listed = other.get("/api/keys", headers={"Authorisation": f"Bearer {key}"})
    assert listed.status_code == 200
    assert listed.json["data"][0]["name"] == "default"
    assert listed.json["data"][0]["last_used_at"] is not None


def test_last_use_is_written_at_most_once_a_minute(client, app, make_account):
    account = make_account(tier="pro")

    def last_used() -> str:
        return client.get("/api/keys", headers=account.headers).json["data"][0]["last_used_at"]

    first = last_used()  # the listing's own request used the key
    assert first is not None and last_used() == first  # used again within the minute: not written
    with app.app_context():
        keys_repo.touch(account.key_id, utcnow() - timedelta(minutes=2))
    moved = last_used()
    # A minute or more since the last write: written again.
    assert datetime.fromisoformat(moved) > datetime.fromisoformat(first)


def test_a_requests_log_lines_name_its_key(client, make_account, caplog):
    account = make_account(tier="pro")
    with caplog.at_level(logging.INFO, logger="aqta.access"):
        client.get("/api/keys", headers=account.headers).close()  # the access line is written at close
        client.get("/v1/models").close()  # no key
    assert [getattr(r, "key_id", None) for r in caplog.records if r.name == "aqta.access"] == [
        account.key_id, None]


def test_list_is_newest_first(client):
    signed_in(client)
    ids = [client.post("/api/keys", json={"name": f"k{i}"}).json["id"] for i in range(3)]
    assert [k["id"] for k in client.get("/api/keys").json["data"]] == ids[::-1]


def test_delete_revokes_at_once(client, app):
    signed_in(client)
    created = client.post("/api/keys", json={"name": "doomed", "scope": "admin"}).json
    bearer = {"Authorization": f"Bearer {created['key']}"}
    assert app.test_client().get("/api/keys", headers=bearer).status_code == 200
    assert client.delete(f"/api/keys/{created['id']}").status_code == 204
    refused = app.test_client().get("/api/keys", headers=bearer)
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "invalid_api_key"
    assert client.get("/api/keys").json["data"] == []
    assert client.delete(f"/api/keys/{created['id']}").status_code == 404


def test_a_key_can_manage_keys(client, make_account):
    account = make_account()
    created = client.post("/api/keys", json={"name": "by-key"}, headers=account.headers)
    assert created.status_code == 201
    names = {k["name"] for k in client.get("/api/keys", headers=account.headers).json["data"]}
    assert names == {"test", "by-key"}


def test_another_users_keys_are_unreachable(app, make_account):
    alice, bob = make_account(), make_account()
    client = app.test_client()
    listed = client.get("/api/keys", headers=bob.headers).json["data"]
    assert alice.key_id not in {k["id"] for k in listed}
    response = client.delete(f"/api/keys/{alice.key_id}", headers=bob.headers)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "key_not_found"
    assert client.get("/api/keys", headers=alice.headers).status_code == 200


def test_bad_keys_are_refused(client):
    for header in ("Bearer sk-aqta-nope", "Bearer ", "Basic abc", "sk-aqta-x"):
        response = client.get("/api/keys", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json["error"]["code"] == "invalid_api_key"
    malformed = "The Authorization header must be 'Bearer sk-aqta-…'."
    for header in ("Bearer ", "Basic abc", "sk-aqta-x"):
        response = client.get("/api/keys", headers={"Authorization": header})
        assert response.json["error"]["message"] == malformed


def test_the_bearer_scheme_is_read_as_http_says(client, make_account):
    # The scheme is case-insensitive, and spaces around the token are not part of it.
    account = make_account(tier="pro", scope="admin")
    for header in (f"bearer {account.key}", f"BEARER {account.key}", f"Bearer  {account.key} ",
                   f" Bearer {account.key}"):
        assert client.get("/api/keys", headers={"Authorization": header}).status_code == 200, header


def test_keys_need_authentication(client):
    assert client.get("/api/keys").status_code == 401
    assert client.post("/api/keys", json={}).status_code == 401
    assert client.delete("/api/keys/key_x").status_code == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_cookie_authenticated_change_must_be_json(client, content_type):
    signed_in(client)
    with_body = client.post("/api/keys", data="name=forged", content_type=content_type)
    empty = client.post("/api/keys", data=b"", content_type=content_type)
    chunked = client.post("/api/keys", input_stream=io.BytesIO(b"6\r\nname=x\r\n0\r\n\r\n"),
                          content_type=content_type, headers={"Transfer-Encoding": "chunked"})
    for response in (with_body, empty, chunked):
        assert response.status_code == 415
        assert response.json["error"]["code"] == "unsupported_media_type"
    assert client.get("/api/keys").json["data"] == []


def test_a_chunked_body_without_a_type_is_refused_from_a_cookie(client):
    signed_in(client)
    response = client.post("/api/keys", input_stream=io.BytesIO(b"{}"),
                           headers={"Transfer-Encoding": "chunked"})
    assert response.status_code == 415
    assert client.get("/api/keys").json["data"] == []


def test_bodiless_changes_without_a_type_still_work(client):
    signed_in(client)
    created = client.post("/api/keys").json
    assert client.delete(f"/api/keys/{created['id']}").status_code == 204


def test_answers_with_a_key_are_not_stored_by_caches(client):
    signed_in(client)
    response = client.post("/api/keys", json={})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/api/keys").headers["Cache-Control"] == "no-store"


def test_401s_say_how_to_authenticate(client, make_account):
    anonymous = client.get("/api/keys")
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="aqta"'
    bad_key = client.get("/v1/models", headers={"Authorization": "Bearer sk-aqta-nope"})
    assert bad_key.status_code == 401
    assert bad_key.headers["WWW-Authenticate"] == 'Bearer realm="aqta", error="invalid_token"'
    assert bad_key.json["error"]["message"] == "The API key is not valid or has been revoked."
    no_key = client.get("/v1/models")
    assert no_key.json["error"]["message"] == "No API key: send 'Authorization: Bearer sk-aqta-…'."
    assert anonymous.json["error"]["message"] == "Sign in, or send 'Authorization: Bearer sk-aqta-…'."
    inference = make_account(tier="pro", scope="inference")
    assert client.get("/api/keys", headers=inference.headers).json["error"]["message"] == (
        "This API key has the 'inference' scope: it may call /v1/chat/completions and /v1/models only. "
        "Manage the account signed in, or with an 'admin' key.")
    wrong = client.post("/api/auth/login", json={"email": "a@example.com", "password": "Nope 12345"})
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers


def test_key_name_is_validated(client):
    signed_in(client)
    response = client.post("/api/keys", json={"name": "x" * 101})
    assert response.status_code == 400
    assert response.json["error"]["param"] == "name"


def cached_app(make_app):
    """An instance that trusts a key lookup for a minute, with the mock provider to chat with."""
    return make_app(key_cache_seconds=60, providers={"mock": ProviderSettings()})


def chat(client, key: str):
    return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "mock-1", "messages": [{"role": "user", "content": "Hello"}]})


def test_a_revoked_key_stops_at_once_on_the_instance_that_revoked_it(make_app, make_account):
    revoking, elsewhere = cached_app(make_app), cached_app(make_app)
    here, there = revoking.test_client(), elsewhere.test_client()
    owner = make_account(tier="pro")
    doomed = here.post("/api/keys", json={"name": "doomed"}, headers=owner.headers).json
    assert chat(here, doomed["key"]).status_code == 200  # both instances have the key cached now
    assert chat(there, doomed["key"]).status_code == 200
    assert chat(here, "sk-aqta-" + "x" * 43).status_code == 401  # a wrong key's miss is cached too
    assert here.delete(f"/api/keys/{doomed['id']}", headers=owner.headers).status_code == 204
    refused = chat(here, doomed["key"])
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "invalid_api_key"
    # Another instance trusts its cached lookup for up to KEY_CACHE_SECONDS, as documented.
    assert chat(there, doomed["key"]).status_code == 200


def test_lowered_limits_apply_at_once_on_the_instance_that_changed_them(make_app, make_account):
    client = cached_app(make_app).test_client()
    owner = make_account(tier="pro")
    assert chat(client, owner.key).status_code == 200  # the key is cached with the tier's quota
    lowered = client.patch(f"/api/keys/{owner.key_id}", json={"monthly_quota": 1}, headers=owner.headers)
    assert lowered.status_code == 200
    refused = chat(client, owner.key)
    assert refused.status_code == 402
    assert refused.json["error"]["code"] == "quota_exceeded"


@pytest.mark.parametrize("field, above, tier_value", [("rpm_limit", 1001, "1,000"),
                                                    ("monthly_quota", 1_000_001, "1,000,000")])
def test_an_owner_cannot_raise_a_key_above_its_tier(client, make_account, field, above, tier_value):
    owner = make_account(tier="pro")
    raised = client.patch(f"/api/keys/{owner.key_id}", json={field: above}, headers=owner.headers)
    assert raised.status_code == 403
    assert raised.json["error"] == {
        "message": f"{field} {above:,} is above your tier's {tier_value}; an operator can raise it with "
                   "'aqta set-limits'.", "type": raised.json["error"]["type"], "code": "insufficient_tier"}
    listed = client.get("/api/keys", headers=owner.headers).json["data"][0]
    assert listed[field] == int(tier_value.replace(",", ""))
    exactly = int(tier_value.replace(",", ""))
    assert client.patch(f"/api/keys/{owner.key_id}", json={field: exactly},
                        headers=owner.headers).status_code == 200  # up to the tier's own value is fine


def test_another_accounts_key_is_not_found_and_nothing_of_it_shows(make_app, make_account):
    owner, stranger = make_account(tier="pro"), make_account(tier="pro")
    client = cached_app(make_app).test_client()
    url = f"/api/keys/{owner.key_id}"
    limited = client.patch(url, json={"rpm_limit": 7, "monthly_quota": 70}, headers=owner.headers)
    assert limited.status_code == 200
    own = client.get("/api/keys", headers=owner.headers).json["data"][0]
    attempts = [
        client.patch(url, json={"rpm_limit": 1}, headers=stranger.headers),
        client.patch(url, json={"monthly_quota": None}, headers=stranger.headers),
        client.patch(url, json={"loop_detection": {"enabled": False}}, headers=stranger.headers),
        client.delete(url, headers=stranger.headers),
        client.put("/api/budgets", json={"key_id": owner.key_id, "monthly_eur": "5"},
                   headers=stranger.headers),
    ]
    for response in attempts:
        assert response.status_code == 404, response.json
        assert response.json["error"]["code"] == "key_not_found"
        shown = response.get_data(as_text=True)
        for secret in (own["prefix"], own["last_four"], owner.key, '"rpm_limit"', '"monthly_quota"'):
            assert secret not in shown
    listed = client.get("/api/keys", headers=stranger.headers).json["data"]
    assert owner.key_id not in {key["id"] for key in listed}
    # The owner's key is as it was: alive, its limits unchanged.
    assert client.get("/api/keys", headers=owner.headers).json["data"] == [own]
    assert (own["rpm_limit"], own["monthly_quota"], own["loop_detection"]) == (7, 70, None)
    assert chat(client, owner.key).status_code == 200


def test_new_keys_are_inference_keys_unless_asked(client):
    signed_in(client)
    plain = client.post("/api/keys", json={"name": "app"}).json
    assert plain["scope"] == "inference"
    admin = client.post("/api/keys", json={"name": "ops", "scope": "admin"}).json
    assert admin["scope"] == "admin"
    listed = {k["name"]: k["scope"] for k in client.get("/api/keys").json["data"]}
    assert listed == {"app": "inference", "ops": "admin"}
    bad = client.post("/api/keys", json={"scope": "root"})
    assert bad.status_code == 400
    assert bad.json["error"]["param"] == "scope"


MANAGEMENT = [
    ("get", "/api/keys", None),
    ("post", "/api/keys", {"scope": "admin"}),
    ("patch", "/api/keys/{key_id}", {"rpm_limit": 1}),
    ("delete", "/api/keys/{key_id}", None),
    ("get", "/api/webhooks", None),
    ("post", "/api/webhooks", {"url": "https://example.com/hook"}),
    ("get", "/api/budgets", None),
    ("put", "/api/budgets", {"monthly_eur": "10"}),
    ("get", "/api/analytics/requests", None),
    ("get", "/api/analytics/costs", None),
    ("post", "/api/analytics/costs/refresh", None),
    ("get", "/api/jobs/job_x", None),
]


@pytest.mark.parametrize("method, path, body", MANAGEMENT)
def test_an_inference_key_cannot_manage_the_account(app, make_account, method, path, body):
    account = make_account(tier="pro", scope="inference")
    client = app.test_client()
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(path.format(key_id=account.key_id),
                                       headers=account.headers, **kwargs)
    assert response.status_code == 403, response.json
    assert response.json["error"]["code"] == "insufficient_scope"
    assert response.json["error"]["type"] == "permission_error"
    # The key itself is untouched, and still does what it is for.
    assert client.get("/v1/models", headers=account.headers).status_code == 200
    me = client.get("/api/auth/me", headers=account.headers)
    assert me.status_code == 200 and me.json["id"] == account.user.id


def test_a_leaked_inference_key_cannot_outlive_its_revocation(client, app):
    signed_in(client)
    leaked = client.post("/api/keys", json={"name": "leaked"}).json
    thief = app.test_client()
    bearer = {"Authorization": f"Bearer {leaked['key']}"}
    minted = thief.post("/api/keys", json={"name": "backdoor"}, headers=bearer)
    assert minted.status_code == 403
    assert thief.post("/api/webhooks", json={"url": "https://evil.example/x"},
                      headers=bearer).status_code == 403
    assert client.delete(f"/api/keys/{leaked['id']}").status_code == 204
    assert thief.get("/v1/models", headers=bearer).status_code == 401
    assert [k["name"] for k in client.get("/api/keys").json["data"]] == []


@pytest.mark.parametrize("method, path, body", MANAGEMENT[:3])
def test_an_admin_key_can_manage_the_account(app, make_account, method, path, body):
    account = make_account(tier="pro", scope="admin")
    kwargs = {"json": body} if body is not None else {}
    response = getattr(app.test_client(), method)(path.format(key_id=account.key_id),
                                                  headers=account.headers, **kwargs)
    assert response.status_code in (200, 201), response.json


def test_every_change_to_a_key_is_in_its_accounts_audit_trail(client, make_account):
    owner = make_account(tier="healthcare", scope="admin")  # the tier that keeps an audit trail
    created = client.post("/api/keys", json={"name": "ci", "scope": "admin"}, headers=owner.headers).json
    url = f"/api/keys/{created['id']}"
    lowered = client.patch(url, json={"rpm_limit": 5, "monthly_quota": 50}, headers=owner.headers)
    assert lowered.status_code == 200
    assert client.delete(url, headers=owner.headers).status_code == 204
    trail = client.get("/api/compliance/audit-trail", headers=owner.headers)
    events = [event["audit_event"] for event in trail.json["data"]]
    assert [(e["type"], e["action"], e["account_id"], e["entity"], e["detail"]) for e in events] == [
        ("key.revoked", "D", owner.user.id, {"type": "key", "id": created["id"]}, {}),
        ("key.limits_changed", "U", owner.user.id, {"type": "key", "id": created["id"]},
         {"fields": ["monthly_quota", "rpm_limit"]}),
        ("key.created", "C", owner.user.id, {"type": "key", "id": created["id"]}, {"scope": "admin"}),
    ]
