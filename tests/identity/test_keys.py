"""API keys through HTTP: create, list, revoke, and isolation between users."""
import hashlib

from providers.base import ProviderSettings
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
    assert key.startswith("sk-aqta-") and len(key) >= len("sk-aqta-") + 32
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
    key = client.post("/api/keys", json={}).json["key"]
    other = app.test_client()
    listed = other.get("/api/keys", headers={"Authorisation": f"Bearer {key}"})
    assert listed.status_code == 200
    assert listed.json["data"][0]["name"] == "default"
    assert listed.json["data"][0]["last_used_at"] is not None


def test_list_is_newest_first(client):
    signed_in(client)
    ids = [client.post("/api/keys", json={"name": f"k{i}"}).json["id"] for i in range(3)]
    assert [k["id"] for k in client.get("/api/keys").json["data"]] == ids[::-1]


def test_delete_revokes_at_once(client, app):
    signed_in(client)
    created = client.post("/api/keys", json={"name": "doomed"}).json
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


def test_keys_need_authentication(client):
    assert client.get("/api/keys").status_code == 401
    assert client.post("/api/keys", json={}).status_code == 401
    assert client.delete("/api/keys/key_x").status_code == 401


def test_cookie_authenticated_change_must_be_json(client):
    signed_in(client)
    response = client.post("/api/keys", data="name=forged", content_type="text/plain")
    assert response.status_code == 415
    assert client.get("/api/keys").json["data"] == []


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


def test_another_accounts_key_is_not_found_and_nothing_of_it_shows(make_app, make_account):
    owner, stranger = make_account(tier="pro"), make_account(tier="pro")
    client = cached_app(make_app).test_client()
    url = f"/api/keys/{owner.key_id}"
    limited = client.patch(url, json={"rpm_limit": 7, "monthly_quota": 70}, headers=owner.headers)
    assert limited.status_code == 200
    own = client.get("/api/keys", headers=owner.headers).json["data"][0]
    attempts = [
        client.patch(url, json={"rpm_limit": 1}, headers=stranger.headers),
        client.patch(url, json={}, headers=stranger.headers),
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
