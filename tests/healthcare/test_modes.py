"""Redis mode end to end with concurrent requests on two apps; and the PHI canary."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

import storage.keys as keys_repo
import storage.requests as requests_repo
import storage.transparency_log as log_repo
from app.gateway.request_log.drain import drain_all
from app.handoff.drain import drain_journal
from app.handoff.journal import Journal
from app.healthcare.leaves import leaf_bytes
from app.healthcare.offline import load_verifiers, verify_file
from app.healthcare.receipts import ReceiptIssuer
from app.healthcare.sequencer import drain_leaves, publish, store_leaves
from storage.log_models import LogEntry
from storage.models import database_proxy
from storage.tables import ALL_MODELS
from tests.gateway.conftest import LiveGateway
from tests.healthcare.conftest import MESSAGES
from tests.healthcare.test_exports import _export
from tests.support import wait_for

REQUESTS = 1000


@pytest.fixture
def redis_mode(make_app, redis_url, jobs_namespace):
    """Two apps (two web processes' worth) sharing Redis and the database."""
    stream = f"{jobs_namespace}:log-pending"
    apps = [make_app(redis_url=redis_url, jobs_namespace=jobs_namespace, log_stream=stream)
            for _ in range(2)]
    yield apps, stream
    client = redis.Redis.from_url(redis_url)
    client.delete(stream)
    client.close()


def test_concurrent_answers_on_two_apps_are_sequenced_exactly(redis_mode, healthcare, redis_url):
    apps, stream = redis_mode
    with apps[0].app_context():  # a thousand identical requests a minute: not a loop, not over the limit
        keys_repo.set_limits(healthcare.user.id, healthcare.key_id, rpm_limit=REQUESTS * 10,
                             loop_settings={"enabled": False})
    gateways = [LiveGateway(app) for app in apps]
    done = threading.Event()

    def worker(app):  # a worker process's sequencer loop
        with app.app_context():
            while not done.is_set():
                drain_leaves()
                publish()
                database_proxy.close()
                done.wait(0.05)

    session = requests.Session()

    def ask(number: int) -> str:
        url = gateways[number % 2].url + "/v1/chat/completions"
        response = session.post(url, headers=healthcare.headers,
                                json={"model": "mock-1", "messages": MESSAGES}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["aqta"]["receipt_id"]

    sequencers = [threading.Thread(target=worker, args=(app,)) for app in apps]
    try:
        for thread in sequencers:
            thread.start()
        with ThreadPoolExecutor(max_workers=16) as pool:
            receipt_ids = list(pool.map(ask, range(REQUESTS)))
        with apps[0].app_context():
            wait_for(lambda: (log_repo.state() or log_repo.TreeState(0, b"")).size >= REQUESTS
                     and log_repo.latest_checkpoint().size == REQUESTS, "every receipt to be sequenced")
    finally:
        done.set()
        for thread in sequencers:
            thread.join(timeout=30)
        for gateway in gateways:
            gateway.stop()
    with apps[0].app_context():
        rows = {row.id: row.leaf_index for row in LogEntry.select(LogEntry.id, LogEntry.leaf_index)}
        assert sorted(rows) == sorted(receipt_ids)
        assert sorted(rows.values()) == list(range(REQUESTS))
        assert log_repo.state().size == REQUESTS
    client = redis.Redis.from_url(redis_url)
    assert client.xlen(stream) == 0  # drained and acknowledged
    client.close()


def test_a_receipt_handed_to_the_stream_is_pending_until_sequenced(redis_mode, healthcare, make_account,
                                                                    redis_url):
    apps, stream = redis_mode
    client = apps[0].test_client()
    response = client.post("/v1/chat/completions", headers=healthcare.headers,
                           json={"model": "mock-1", "messages": MESSAGES})
    receipt_id = response.get_json()["aqta"]["receipt_id"]
    connection = redis.Redis.from_url(redis_url)
    assert connection.xlen(stream) == 1
    connection.close()
    other = make_account(tier="healthcare")
    assert client.get(f"/api/health/receipts/{receipt_id}", headers=other.headers).status_code == 404
    detail = apps[1].test_client().get(f"/api/health/receipts/{receipt_id}", headers=healthcare.headers)
    assert detail.get_json()["status"] == "pending"  # before any worker ran
    with apps[1].app_context():
        drain_leaves()
        assert publish().size == 2  # the receipt and the audit event of its owner reading it
    assert client.get(f"/api/health/receipts/{receipt_id}", headers=healthcare.headers).get_json()[
        "status"] == "sequenced"



def test_a_receipt_redis_refuses_alone_is_kept_in_the_journal(redis_mode, healthcare, redis_url, tmp_path):
    apps, stream = redis_mode
    connection = redis.Redis.from_url(redis_url)
    connection.set(stream, "not a stream")  # Redis takes the request's record, refuses its receipt
    try:
        response = apps[0].test_client().post("/v1/chat/completions", headers=healthcare.headers,
                                              json={"model": "mock-1", "messages": MESSAGES})
        assert response.status_code == 200
        receipt_id = response.get_json()["aqta"]["receipt_id"]
        journal = b"".join(path.read_bytes() for path in (tmp_path / "log-journal").glob("*.jsonl"))
        assert receipt_id.encode() in journal
    finally:
        connection.delete(stream)
        connection.close()
    with apps[1].app_context():
        drain_journal(tmp_path / "log-journal", store_leaves)
        assert publish().size == 1
        assert log_repo.entry(receipt_id).leaf_index == 0

MARKERS = ["MRN-58213994", "1961-02-03", "Quixote-Featherstonehaugh"]


def test_patient_markers_land_nowhere(make_app, make_account, chat, sequence, client, app, caplog,
                                      tmp_path):
    caplog.set_level(logging.DEBUG)
    hooks = make_app(webhook_allow_private=True).test_client()
    account = make_account(tier="healthcare")
    hooks.post("/api/webhooks", headers=account.headers,
               json={"url": "http://127.0.0.1:9/hooks", "event_types": ["log.checkpoint"]})
    note = f"Patient {MARKERS[2]}, {MARKERS[0]}, born {MARKERS[1]}: summarise."
    body = {"model": "mock-1", "messages": [{"role": "user", "content": note}]}
    answer = client.post("/v1/chat/completions", headers=account.headers, json=body).get_json()
    stream = client.post("/v1/chat/completions", headers=account.headers, json={**body, "stream": True})
    assert stream.status_code == 200
    journal = b"".join(path.read_bytes() for path in tmp_path.rglob("*.jsonl"))
    sequence()
    receipt_id = answer["aqta"]["receipt_id"]
    verified = client.post(f"/api/health/receipts/{receipt_id}/verify", headers=account.headers,
                           json={"request": body, "answer": answer}).get_json()
    assert verified["valid"] is True
    keys = [k["vkey"] for k in client.get("/api/health/log/keys").get_json()["keys"]]
    exporter = make_app(run_embedded_worker=True, export_dir=str(tmp_path / "exports")).test_client()
    exported = b"".join(_export(exporter, account, fmt) for fmt in ("jsonl", "csv")).decode()
    assert exported.count(receipt_id) == 3  # a JSONL line; a CSV row's id column and its leaf
    with app.app_context():
        bundle = client.get(f"/api/health/receipts/{receipt_id}", headers=account.headers).get_data()
        assert all(o.ok for o in verify_file(bundle.decode(), load_verifiers(keys)))
        rows = [str(list(model.select().dicts())) for model in ALL_MODELS]
    events = hooks.get("/api/webhooks/events", headers=account.headers).get_data(as_text=True)
    listing = client.get("/api/health/receipts", headers=account.headers).get_data(as_text=True)
    assert journal  # the hand-off went through the journal (embedded mode)
    for marker in MARKERS:
        for where, text in [("tables", "".join(rows)), ("logs", caplog.text), ("journal", journal.decode()),
                            ("webhook events", events), ("receipt", bundle.decode()),
                            ("listing", listing), ("exports", exported)]:
            assert marker not in text, f"{marker} found in {where}"


def test_no_answer_leaves_without_its_receipt(make_app, make_account, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the journal folder should be")
    app = make_app(log_journal_dir=str(blocked))
    account = make_account(tier="healthcare")
    response = app.test_client().post("/v1/chat/completions", headers=account.headers,
                                      json={"model": "mock-1", "messages": MESSAGES})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "receipt_log_unavailable"
    with app.app_context():
        drain_all()
        record = requests_repo.get(response.headers["X-Request-Id"])
    assert (record.status, record.error_code) == ("error", "receipt_log_unavailable")


def test_receipts_go_to_the_journal_while_redis_is_unreachable(app, tmp_path, sequence):
    issuer = ReceiptIssuer(b"s" * 32, Journal(tmp_path / "fallback"),
                           redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2),
                           "aqta-test:log-pending")
    data = leaf_bytes({"leaf_type": "audit_event", "v": 1, "id": "aud_fallback"})
    issuer.hand_off(data)
    with app.app_context():
        assert drain_journal(tmp_path / "fallback", store_leaves) == 1
        assert publish().size == 1
        assert log_repo.entry("aud_fallback").leaf_index == 0
