"""Receipt exports through the API and the embedded worker; the log.checkpoint webhook event."""
from __future__ import annotations

import csv
import io

import pytest

import storage.jobs as jobs_repo
from app.healthcare import exports
from app.healthcare.offline import load_verifiers, verify_file
from app.healthcare.transparency import transparency_log
from tests.healthcare.conftest import MESSAGES
from tests.support import wait_for


@pytest.fixture
def embedded(make_app, tmp_path):
    """An app running the actors in process: the sequencer every second, exports on demand."""
    app = make_app(run_embedded_worker=True, export_dir=str(tmp_path / "exports"))
    return app, app.test_client()


def _answers(client, account, count: int) -> list[str]:
    ids = []
    for n in range(count):  # each a question of its own: the same one six times is a loop
        messages = [*MESSAGES, {"role": "user", "content": f"Question {n:05d}."}]
        response = client.post("/v1/chat/completions", headers=account.headers,
                               json={"model": "mock-1", "messages": messages})
        ids.append(response.get_json()["aqta"]["receipt_id"])
    return ids


def _sequenced(client, account, receipt_id) -> bool:
    response = client.get(f"/api/health/receipts/{receipt_id}", headers=account.headers)
    return response.status_code == 200 and response.get_json()["status"] == "sequenced"


def _export(client, account, fmt: str) -> bytes:
    response = client.get("/api/health/receipts/export", headers=account.headers,
                          query_string={"format": fmt})
    assert response.status_code == 202
    job_url = response.headers["Location"]
    job = wait_for(lambda: (j := client.get(job_url, headers=account.headers).get_json())["status"]
                   in ("succeeded", "failed") and j, "the export job")
    assert job["status"] == "succeeded", job
    assert job["kind"] == "receipts_export" and job["progress"] == 1.0
    download = client.get(job["result"]["links"]["download"], headers=account.headers)
    assert download.status_code == 200
    return download.get_data()


def test_an_export_verifies_line_by_line_offline(embedded, healthcare):
    app, client = embedded
    ids = _answers(client, healthcare, 6)
    wait_for(lambda: _sequenced(client, healthcare, ids[-1]), "the receipts to be sequenced")
    keys = [k["vkey"] for k in client.get("/api/health/log/keys").get_json()["keys"]]
    text = _export(client, healthcare, "jsonl").decode()
    outcomes = verify_file(text, load_verifiers(keys), "aqta.test/healthcare-log")
    assert [o.label for o in outcomes] == ids and all(o.ok for o in outcomes)
    tampered = text.replace('"mock-1"', '"mock-2"', 1)
    assert [o.ok for o in verify_file(tampered, load_verifiers(keys))] == [False] + [True] * 5
    rows = list(csv.DictReader(io.StringIO(_export(client, healthcare, "csv").decode())))
    assert [row["id"] for row in rows] == ids
    assert all(row["checkpoint"].startswith("aqta.test/healthcare-log\n") for row in rows)


def test_exports_are_the_owners_and_only_when_finished(embedded, healthcare, make_account):
    app, client = embedded
    with app.app_context():
        other_kind = jobs_repo.create(healthcare.user.id, "costs.aggregate")
    response = client.get(f"/api/health/receipts/export/{other_kind.id}/download", headers=healthcare.headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "export_not_ready"
    stranger = make_account(tier="healthcare")
    response = client.get(f"/api/health/receipts/export/{other_kind.id}/download", headers=stranger.headers)
    assert response.status_code == 404
    bad = client.get("/api/health/receipts/export", headers=healthcare.headers,
                     query_string={"format": "xml"})
    assert bad.status_code in (400, 422)


def test_an_interrupted_export_serves_nothing_until_rerun(chat, healthcare, sequence, app, client, tmp_path):
    for _ in range(3):
        chat(healthcare)
    sequence()
    with app.app_context():
        job = jobs_repo.create(healthcare.user.id, exports.EXPORT_KIND)

        def dies(indices, size):
            raise KeyboardInterrupt  # the worker is killed while writing

        with pytest.raises(KeyboardInterrupt):
            exports.run(job.id, healthcare.user.id, "jsonl", None, None, str(tmp_path), dies)
        assert not exports.export_path(str(tmp_path), job.id, "jsonl").exists()
        assert jobs_repo.get(job.id).status == "running"
    response = client.get(f"/api/health/receipts/export/{job.id}/download", headers=healthcare.headers)
    assert response.status_code == 404
    with app.app_context():  # the message is redelivered: the file starts over
        exports.run(job.id, healthcare.user.id, "jsonl", None, None, str(tmp_path),
                    transparency_log().inclusion_many)
    lines = exports.export_path(str(tmp_path), job.id, "jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert not list(tmp_path.glob("*.part"))


def test_each_checkpoint_is_offered_as_a_webhook_event(make_app, make_account, sequence, chat):
    app = make_app(webhook_allow_private=True)
    client = app.test_client()
    account = make_account(tier="healthcare")
    created = client.post("/api/webhooks", headers=account.headers,
                          json={"url": "http://127.0.0.1:9/hooks", "event_types": ["log.checkpoint"]})
    assert created.status_code == 201, created.get_json()
    chat(account)
    checkpoint = sequence()
    events = client.get("/api/webhooks/events", headers=account.headers,
                        query_string={"type": "log.checkpoint"}).get_json()["data"]
    assert len(events) == 1
    data = events[0]["data"]
    # The tree holds the receipt and the audit event of the endpoint's creation.
    assert data["tree_size"] == 2 and data["checkpoint"] == checkpoint.note
