"""Per-account caps hold under concurrency: webhook endpoints, API keys, unfinished jobs.

Each test fires its creates at once from threads through the HTTP API, on every
database backend; a count-then-insert without the account lock stores more.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import storage.keys as keys_repo
from app.identity.api_keys import MAX_KEYS, generate_key
from storage.database import close_connection
from tests.webhooks.test_endpoints_api import PUBLIC_URL


def at_once(app, count: int, send) -> list:
    """``send(client)`` from ``count`` threads released together; the responses."""
    barrier = Barrier(count)

    def one(_):
        client = app.test_client()
        barrier.wait()
        try:
            return send(client)
        finally:
            close_connection()  # this thread's connection, back to the pool

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def statuses(responses) -> dict[int, int]:
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status_code] = counted.get(response.status_code, 0) + 1
    return counted


def test_thirty_concurrent_webhook_creates_store_twenty(app, make_account):
    account = make_account(tier="pro")
    responses = at_once(app, 30, lambda client: client.post(
        "/api/webhooks", json={"url": PUBLIC_URL}, headers=account.headers))
    assert statuses(responses) == {201: 20, 409: 10}
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == \
        {"too_many_endpoints"}
    listed = app.test_client().get("/api/webhooks", headers=account.headers).json["data"]
    assert len(listed) == 20


def test_concurrent_key_creates_stop_at_the_cap(app, make_account):
    account = make_account()  # one live key already
    with app.app_context():
        for _ in range(MAX_KEYS - 6):
            new = generate_key()
            keys_repo.create(account.user.id, "bulk", new.key_hash, new.prefix, new.last_four)
    responses = at_once(app, 15, lambda client: client.post(
        "/api/keys", json={"name": "burst"}, headers=account.headers))
    assert statuses(responses) == {201: 5, 409: 10}
    refused = {(r.json["error"]["code"], r.json["error"]["message"]) for r in responses
               if r.status_code == 409}
    assert refused == {("too_many_keys", f"An account may have at most {MAX_KEYS} live API keys; "
                                         "revoke one first.")}
    client = app.test_client()
    listed = client.get("/api/keys", headers=account.headers).json["data"]
    assert len(listed) == MAX_KEYS
    # Revoking one makes room again.
    spare = next(key["id"] for key in listed if key["id"] != account.key_id)
    assert client.delete(f"/api/keys/{spare}", headers=account.headers).status_code == 204
    assert client.post("/api/keys", json={}, headers=account.headers).status_code == 201


def test_concurrent_jobs_stop_at_ten_unfinished(app, make_account):
    account = make_account(tier="starter")
    responses = at_once(app, 15, lambda client: client.post(
        "/api/analytics/costs/refresh", headers=account.headers))
    assert statuses(responses) == {202: 10, 409: 5}
    assert {r.json["error"]["code"] for r in responses if r.status_code == 409} == {"too_many_jobs"}
