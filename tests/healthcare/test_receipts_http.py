"""Receipts through the public surface: chat, list, detail, verify, the log's routes."""
from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from app.healthcare import merkle
from app.healthcare.checkpoint import open_checkpoint
from app.healthcare.note import Verifier
from storage.log_models import LogEntry
from tests.healthcare.conftest import MESSAGES

RECEIPT_ROUTES = [("get", "/api/health/receipts"), ("get", "/api/health/receipts/rcpt_x"),
                  ("post", "/api/health/receipts/rcpt_x/verify"), ("get", "/api/health/receipts/export")]


@pytest.mark.parametrize("tier", ["free", "starter", "pro"])
@pytest.mark.parametrize(("method", "path"), RECEIPT_ROUTES)
def test_receipts_need_the_healthcare_tier(client, make_account, tier, method, path):
    account = make_account(tier=tier)
    response = getattr(client, method)(path, headers=account.headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "insufficient_tier"


def test_other_tiers_get_no_receipt(chat, make_account, sequence, client):
    body = chat(make_account(tier="pro")).get_json()
    assert "receipt_id" not in body["aqta"]
    assert sequence() is None


def _verifiers(client) -> list[Verifier]:
    keys = client.get("/api/health/log/keys").get_json()
    return [Verifier.parse(key["vkey"]) for key in keys["keys"]]


def test_an_answer_gets_a_receipt_that_is_pending_then_proven(chat, healthcare, sequence, client):
    answer = chat(healthcare).get_json()
    receipt_id = answer["aqta"]["receipt_id"]
    assert receipt_id.startswith("rcpt_")
    pending = client.get(f"/api/health/receipts/{receipt_id}", headers=healthcare.headers)
    assert pending.status_code == 200  # at once: handed off, not yet sequenced
    assert pending.get_json()["status"] == "pending" and pending.get_json()["leaf_index"] is None
    assert pending.get_json()["receipt"]["id"] == receipt_id
    checkpoint = sequence()
    assert checkpoint.size == 2  # the receipt and the audit event of reading it
    bundle = client.get(f"/api/health/receipts/{receipt_id}", headers=healthcare.headers).get_json()
    assert bundle["status"] == "sequenced" and bundle["tree_size"] == 2
    receipt = bundle["receipt"]
    assert receipt["id"] == receipt_id and receipt["request_id"] == answer["aqta"]["request_id"]
    assert receipt["account_id"] == healthcare.user.id and receipt["key_id"] == healthcare.key_id
    assert receipt["model"] == "mock-1" and receipt["provider"] == "mock"
    assert receipt["usage"]["prompt_tokens"] == answer["usage"]["prompt_tokens"]
    assert Decimal(receipt["cost_eur"]) == Decimal(str(answer["aqta"]["cost_eur"]))  # exact digits both
    assert receipt["created_at"].endswith("Z")
    opened = open_checkpoint(bundle["checkpoint"], _verifiers(client), "aqta.test/healthcare-log")
    leaf = base64.b64decode(bundle["leaf_hash"])
    path = [base64.b64decode(h) for h in bundle["inclusion_proof"]]
    merkle.verify_inclusion(bundle["leaf_index"], opened.size, leaf, path, opened.root)


def test_a_pending_receipt_is_its_owners_alone(chat, healthcare, make_account, client):
    receipt_id = chat(healthcare).get_json()["aqta"]["receipt_id"]
    other = make_account(tier="healthcare")
    response = client.get(f"/api/health/receipts/{receipt_id}", headers=other.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "receipt_not_found"
    bundle = client.get(f"/api/health/receipts/{receipt_id}", headers=healthcare.headers).get_json()
    assert bundle["status"] == "pending" and bundle["leaf_index"] is None
    assert "inclusion_proof" not in bundle
    verified = client.post(f"/api/health/receipts/{receipt_id}/verify", headers=healthcare.headers)
    assert verified.get_json()["status"] == "pending" and verified.get_json()["valid"] is False
    missing = client.get("/api/health/receipts/rcpt_nothere", headers=healthcare.headers)
    assert missing.status_code == 404


def test_verify_lists_each_check_and_the_commitments(chat, healthcare, sequence, client):
    body = {"model": "mock-1", "messages": MESSAGES}
    answer = chat(healthcare).get_json()
    receipt_id = answer["aqta"]["receipt_id"]
    sequence()
    url = f"/api/health/receipts/{receipt_id}/verify"
    result = client.post(url, headers=healthcare.headers).get_json()
    assert result["valid"] is True
    assert [c["name"] for c in result["checks"]] == ["leaf_hash", "checkpoint_signature", "tree_size",
                                                     "inclusion_proof"]
    result = client.post(url, headers=healthcare.headers, json={"request": body, "answer": answer}).get_json()
    assert result["valid"] is True
    assert {c["name"]: c["ok"] for c in result["checks"]}["answer_commitment"] is True
    altered = json.loads(json.dumps(answer))
    altered["choices"][0]["message"]["content"] += "!"
    result = client.post(url, headers=healthcare.headers,
                         json={"request": {**body, "temperature": 1}, "answer": altered}).get_json()
    assert result["valid"] is False
    outcome = {c["name"]: c["ok"] for c in result["checks"]}
    assert outcome["request_commitment"] is False and outcome["answer_commitment"] is False
    assert outcome["inclusion_proof"] is True


def test_a_streamed_answer_gets_a_receipt_on_its_final_chunk(client, healthcare, sequence):
    body = {"model": "mock-1", "messages": MESSAGES, "stream": True}
    response = client.post("/v1/chat/completions", headers=healthcare.headers, json=body)
    chunks = [json.loads(line[6:]) for line in response.get_data(as_text=True).split("\n\n")
              if line.startswith("data: {")]
    receipt_id = chunks[-1]["aqta"]["receipt_id"]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    sequence()
    assembled = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                              "finish_reason": "stop"}]}
    result = client.post(f"/api/health/receipts/{receipt_id}/verify", headers=healthcare.headers,
                         json={"request": body, "answer": assembled}).get_json()
    assert result["valid"] is True, result


def test_a_cache_hit_gets_its_own_receipt(chat, healthcare, sequence, client):
    first = chat(healthcare, temperature=0).get_json()
    second = chat(healthcare, temperature=0).get_json()
    assert second["aqta"]["cached"] is True
    assert second["aqta"]["receipt_id"] not in (None, first["aqta"]["receipt_id"])
    sequence()
    bundle = client.get(f"/api/health/receipts/{second['aqta']['receipt_id']}",
                        headers=healthcare.headers).get_json()
    assert bundle["receipt"]["status"] == "cached" and bundle["receipt"]["cached"] is True


def test_another_accounts_receipt_is_not_found(chat, healthcare, make_account, sequence, client):
    receipt_id = chat(healthcare).get_json()["aqta"]["receipt_id"]
    sequence()
    other = make_account(tier="healthcare")
    response = client.get(f"/api/health/receipts/{receipt_id}", headers=other.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "receipt_not_found"


def test_list_filters_and_pages(chat, healthcare, sequence, client):
    ids = [chat(healthcare, model=model).get_json()["aqta"]["receipt_id"]
           for model in ("mock-1", "mock-2", "mock-1", "mock-1", "mock-2")]
    sequence()
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/health/receipts", headers=healthcare.headers, query_string=query).get_json()
        seen += [r["id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    only = client.get("/api/health/receipts", headers=healthcare.headers,
                      query_string={"model": "mock-2", "key": healthcare.key_id}).get_json()["data"]
    assert [r["id"] for r in only] == [ids[4], ids[1]]
    assert all((r["status"], r["log_status"]) == ("ok", "sequenced") for r in only)
    none = client.get("/api/health/receipts", headers=healthcare.headers,
                      query_string={"since": "2999-01-01"}).get_json()
    assert none == {"data": [], "next_cursor": None}
    bad = client.get("/api/health/receipts", headers=healthcare.headers, query_string={"cursor": "x"})
    assert bad.status_code == 400


def test_log_routes_serve_keys_checkpoint_and_consistency(chat, healthcare, sequence, client):
    assert client.get("/api/health/log/checkpoint").status_code == 404
    # Each a question of its own: the same one five times in a row is a loop.
    questions = [[{"role": "user", "content": f"Question {n:05d}."}] for n in range(7)]
    chat(healthcare, messages=questions[0])
    chat(healthcare, messages=questions[1])
    first = sequence()
    for messages in questions[2:]:
        chat(healthcare, messages=messages)
    sequence()
    note = client.get("/api/health/log/checkpoint")
    assert note.mimetype == "text/plain"
    verifiers = _verifiers(client)
    latest = open_checkpoint(note.get_data(as_text=True), verifiers)
    assert latest.size == 7
    old = open_checkpoint(first.note, verifiers)
    proof = client.get("/api/health/log/consistency", query_string={"from": 2, "to": 7}).get_json()
    merkle.verify_consistency(old.size, latest.size, old.root, latest.root,
                              [base64.b64decode(h) for h in proof["proof"]])
    for bad in ({"from": 3, "to": 2}, {"from": 1, "to": 8}, {"from": 0, "to": 2}, {"from": "x", "to": 1}):
        response = client.get("/api/health/log/consistency", query_string=bad)
        assert response.status_code in (400, 422)
        assert response.get_json()["error"]["code"] in ("invalid_request", "unprocessable_entity")


def _check(client, account, receipt_id) -> dict:
    result = client.post(f"/api/health/receipts/{receipt_id}/verify", headers=account.headers).get_json()
    return {c["name"]: c["ok"] for c in result["checks"]}


def test_tampered_rows_fail_verification(chat, healthcare, sequence, client, app):
    ids = [chat(healthcare).get_json()["aqta"]["receipt_id"] for _ in range(4)]
    sequence()
    with app.app_context():
        row = LogEntry.get_by_id(ids[1])
        LogEntry.update(leaf_data=row.leaf_data.replace('"mock-1"', '"mock-9"')).where(
            LogEntry.id == ids[1]).execute()
        assert [LogEntry.get_by_id(i).leaf_index for i in ids] == [0, 1, 2, 3]  # in hand-off order
        # Reorder two leaves: swap their indices.
        LogEntry.update(leaf_index=-1).where(LogEntry.id == ids[2]).execute()
        LogEntry.update(leaf_index=2).where(LogEntry.id == ids[3]).execute()
        LogEntry.update(leaf_index=3).where(LogEntry.id == ids[2]).execute()
    assert all(_check(client, healthcare, ids[0]).values())
    for receipt_id in ids[1:]:
        assert _check(client, healthcare, receipt_id)["inclusion_proof"] is False
