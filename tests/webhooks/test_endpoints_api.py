"""The webhooks API: endpoints per account, secrets shown once and sealed, URLs refused, the spec."""
from __future__ import annotations

import base64

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

import storage.webhooks as hooks_repo
from app.webhooks.events import EVENT_TYPES, SUBSCRIBABLE
from app.webhooks.signing import SecretBox, new_secret
from tests.fakes.webhook_receiver import Received, WebhookReceiver
from tests.support.webhooks import FAST, create_endpoint, finished_delivery

PUBLIC_URL = "https://93.184.215.14/hooks"  # a public address literal: no DNS needed to check it


@pytest.fixture
def account(make_account):
    return make_account()


def test_create_shows_the_secret_once(client, account):
    created = create_endpoint(client, account, PUBLIC_URL, description="prod",
                              event_types=["loop.detected", "budget.exceeded"])
    secret = created["secret"]
    again = client.post("/api/webhooks", json={"url": PUBLIC_URL}, headers=account.headers)
    assert again.status_code == 201 and again.headers["Cache-Control"] == "no-store"
    client.delete(f"/api/webhooks/{again.json['id']}", headers=account.headers)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[len("whsec_"):])) == 32
    assert created["enabled"] is True and created["event_types"] == ["budget.exceeded", "loop.detected"]
    fetched = client.get(f"/api/webhooks/{created['id']}", headers=account.headers).json
    listed = client.get("/api/webhooks", headers=account.headers).json["data"]
    assert "secret" not in fetched and all("secret" not in e for e in listed)
    assert [e["id"] for e in listed] == [created["id"]]


def test_the_secret_is_stored_sealed(app, client, account):
    created = create_endpoint(client, account, PUBLIC_URL)
    with app.app_context():
        sealed = hooks_repo.sealed_secrets(created["id"])
    assert created["secret"] not in sealed.current
    assert created["secret"][len("whsec_"):] not in sealed.current
    assert SecretBox(app.config["SECRET_KEY"]).open(sealed.current) == created["secret"]
    with pytest.raises(ValueError, match="SECRET_KEY"):
        SecretBox("another-secret-key-0123456789").open(sealed.current)


def test_update_and_delete(client, account):
    created = create_endpoint(client, account, PUBLIC_URL)
    assert created["event_types"] is None  # every type
    changed = client.patch(f"/api/webhooks/{created['id']}", headers=account.headers,
                           json={"description": "staging", "event_types": ["quota.threshold_reached"],
                                 "enabled": False})
    assert changed.status_code == 200
    assert changed.json["description"] == "staging" and changed.json["enabled"] is False
    assert changed.json["event_types"] == ["quota.threshold_reached"]
    assert "secret" not in changed.json
    assert client.delete(f"/api/webhooks/{created['id']}", headers=account.headers).status_code == 204
    assert client.get(f"/api/webhooks/{created['id']}", headers=account.headers).status_code == 404


def test_another_accounts_endpoint_is_not_found(client, make_account):
    owner, other = make_account(), make_account()
    endpoint_id = create_endpoint(client, owner, PUBLIC_URL)["id"]
    base = f"/api/webhooks/{endpoint_id}"
    for method, path in (("get", base), ("patch", base), ("delete", base),
                         ("post", f"{base}/rotate-secret"), ("post", f"{base}/test"),
                         ("get", f"{base}/deliveries"), ("post", f"{base}/deliveries/dlv_x/retry")):
        kwargs = {"json": {"description": "x"}} if method == "patch" else {}
        response = getattr(client, method)(path, headers=other.headers, **kwargs)
        assert response.status_code == 404, (method, path)
        assert response.json["error"]["code"] == "webhook_endpoint_not_found"
    assert client.get("/api/webhooks", headers=other.headers).json["data"] == []
    assert client.get(base, headers=owner.headers).status_code == 200


def test_session_auth_works_too(client, account):
    from tests.conftest import PASSWORD

    client.post("/api/auth/login", json={"email": account.user.email, "password": PASSWORD})
    assert client.post("/api/webhooks", json={"url": PUBLIC_URL}).status_code == 201
    assert client.get("/api/webhooks").status_code == 200


def test_requires_authentication(client):
    assert client.get("/api/webhooks").status_code == 401
    assert client.post("/api/webhooks", json={"url": PUBLIC_URL}).status_code == 401


@pytest.mark.parametrize("body, field", [
    ({}, "url"),
    ({"url": PUBLIC_URL, "event_types": ["loop.detected", "nope"]}, "event_types"),
    ({"url": PUBLIC_URL, "event_types": []}, "event_types"),
    ({"url": PUBLIC_URL, "event_types": ["webhook.test"]}, "event_types"),
    ({"url": PUBLIC_URL, "description": "x" * 501}, "description"),
    ({"url": PUBLIC_URL, "secret": "whsec_mine"}, "secret"),
])
def test_invalid_bodies(client, account, body, field):
    response = client.post("/api/webhooks", json=body, headers=account.headers)
    assert response.status_code == 400
    assert response.json["error"]["param"].startswith(field)


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:8080/hooks", "loopback"),
    ("http://10.0.0.7/hooks", "private"),
    ("http://172.16.5.4/hooks", "private"),
    ("http://192.168.1.20/hooks", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
    ("http://[::1]:8080/hooks", "loopback"),
    ("http://[::ffff:127.0.0.1]/hooks", "loopback"),
    ("http://[fe80::1]/hooks", "link-local"),
    ("http://0.0.0.0/hooks", "unspecified"),
    ("http://224.0.0.1/hooks", "multicast"),
    ("http://100.64.0.1/hooks", "non-public"),
    ("http://localhost:8080/hooks", "loopback"),  # a name resolving to loopback
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
    ("ftp://93.184.215.14/hooks", "https://"),
    ("file:///etc/passwd", "https://"),
    ("gopher://93.184.215.14:70/_", "https://"),
    ("https://user:pass@93.184.215.14/hooks", "Credentials"),
    ("https:///hooks", "no host"),
])
def test_unsafe_urls_are_refused(client, account, url, reason):
    response = client.post("/api/webhooks", json={"url": url}, headers=account.headers)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "unsafe_webhook_url"
    assert reason in response.json["error"]["message"]
    assert response.json["error"]["param"] == "url"


def test_changing_the_url_is_checked_too(client, account):
    endpoint_id = create_endpoint(client, account, PUBLIC_URL)["id"]
    response = client.patch(f"/api/webhooks/{endpoint_id}", json={"url": "http://10.1.1.1/"},
                            headers=account.headers)
    assert response.status_code == 400 and response.json["error"]["code"] == "unsafe_webhook_url"


def test_private_addresses_when_the_operator_allows_them(make_app, make_account):
    app = make_app(webhook_allow_private=True)
    client, account = app.test_client(), make_account()
    assert client.post("/api/webhooks", json={"url": "http://127.0.0.1:9/h"},
                       headers=account.headers).status_code == 201
    assert client.post("/api/webhooks", json={"url": "http://localhost:9/h"},
                       headers=account.headers).status_code == 201
    metadata = client.post("/api/webhooks", json={"url": "http://169.254.169.254/"},
                           headers=account.headers)
    assert metadata.status_code == 400 and "cloud metadata" in metadata.json["error"]["message"]


def test_an_unresolvable_host_is_refused(client, account):
    response = client.post("/api/webhooks", json={"url": "https://no-such-host.invalid/hooks"},
                           headers=account.headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "unresolvable_webhook_host"
    assert response.json["error"]["param"] == "url"
    assert response.json["error"]["message"].startswith("The host no-such-host.invalid does not resolve (")


def test_rotation_shows_the_new_secret_once(client, account):
    created = create_endpoint(client, account, PUBLIC_URL)
    rotated = client.post(f"/api/webhooks/{created['id']}/rotate-secret", headers=account.headers)
    assert rotated.status_code == 200
    assert rotated.json["secret"].startswith("whsec_") and rotated.json["secret"] != created["secret"]
    assert rotated.json["previous_secret_expires_at"] is not None
    assert rotated.headers["Cache-Control"] == "no-store"
    assert "secret" not in client.get(f"/api/webhooks/{created['id']}", headers=account.headers).json


def test_event_types_are_listed_and_documented(client, account):
    listed = client.get("/api/webhooks/event-types", headers=account.headers).json["data"]
    assert {t["type"] for t in listed} == set(EVENT_TYPES)
    spec = client.get("/openapi.json").json
    for item in listed:
        component = spec["components"]["schemas"][item["schema"]]
        assert component["example"] == item["example"]
        assert component["properties"]["type"]["enum"] == [item["type"]]
        kind = EVENT_TYPES[item["type"]]
        assert kind.dump(item["example"]["data"]) == item["example"]["data"]  # the example fits
    assert set(SUBSCRIBABLE) == {t["type"] for t in listed if t["subscribable"]}


def test_events_list_is_empty_and_filterable(client, account):
    response = client.get("/api/webhooks/events?type=endpoint.disabled&limit=5", headers=account.headers)
    assert response.status_code == 200 and response.json["data"] == []
    assert client.get("/api/webhooks/events?type=nope", headers=account.headers).status_code == 400


def test_an_account_has_at_most_twenty_endpoints(client, account):
    for _ in range(20):
        create_endpoint(client, account, PUBLIC_URL)
    response = client.post("/api/webhooks", json={"url": PUBLIC_URL}, headers=account.headers)
    assert response.status_code == 409 and response.json["error"]["code"] == "too_many_endpoints"


def test_the_secret_shown_verifies_what_is_delivered(make_app, make_account):
    # The receiver is given no secret: the test checks each delivery itself with standardwebhooks.
    receiver = WebhookReceiver().start()
    try:
        app, account = make_app(run_embedded_worker=True, **FAST), make_account()
        client = app.test_client()
        created = create_endpoint(client, account, receiver.url)
        first = send_test_event(client, account, created["id"], receiver)
        assert Webhook(created["secret"]).verify(first.body, first.headers)["type"] == "webhook.test"
        for wrong_secret, body in ((new_secret(), first.body), (created["secret"], first.body + b" ")):
            with pytest.raises(WebhookVerificationError):
                Webhook(wrong_secret).verify(body, first.headers)

        rotated = client.post(f"/api/webhooks/{created['id']}/rotate-secret", headers=account.headers)
        second = send_test_event(client, account, created["id"], receiver)
        for secret in (rotated.json["secret"], created["secret"]):  # both, until the old one expires
            payload = Webhook(secret).verify(second.body, second.headers)
            assert payload["data"]["endpoint_id"] == created["id"]
    finally:
        receiver.stop()


def send_test_event(client, account, endpoint_id: str, receiver: WebhookReceiver) -> Received:
    """Send the endpoint a test event and wait until it has been delivered; what arrived."""
    sent = client.post(f"/api/webhooks/{endpoint_id}/test", headers=account.headers)
    assert sent.status_code == 202
    delivery = finished_delivery(client, account, endpoint_id, sent.json["delivery_id"])
    assert delivery["status"] == "succeeded"
    [got] = [r for r in receiver.received if r.webhook_id == sent.json["event_id"]]
    assert got.verified_by == []  # nothing was checked on the way: the test checks it here
    return got
