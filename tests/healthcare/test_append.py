"""Leaves appended off the hot path are numbered with the rest and proven by the same verifier."""
from __future__ import annotations

import json

import pytest

import storage.transparency_log as log_repo
from app.healthcare.append import append
from app.healthcare.leaves import AUDIT_EVENT, LEAF_VERSION, RECEIPT, LeafError
from app.healthcare.offline import verify_file
from app.healthcare.transparency import transparency_log
from app.healthcare.verify import all_ok, make_bundle, verify_bundle
from storage.ids import new_id


def _event(account_id: str) -> dict:
    return {"leaf_type": AUDIT_EVENT, "v": LEAF_VERSION, "id": new_id("aud"), "account_id": account_id,
            "action": "C", "type": "key.created", "recorded": "2026-11-30T12:00:00.000000Z"}


def _bundle_of(entry_id: str) -> dict:
    stored = log_repo.entry(entry_id)
    proof = transparency_log().inclusion(stored.leaf_index)

    return make_bundle(json.loads(stored.leaf_data), stored.leaf_index, proof.hashes,
                       proof.checkpoint.note, proof.checkpoint.size)


def test_an_appended_leaf_is_sequenced_and_its_bundle_verifies_online_and_offline(app, sequence, healthcare):
    with app.app_context():
        first, second = append(_event(healthcare.user.id)), append(_event(healthcare.user.id))
    sequence()
    with app.app_context():
        bundle = _bundle_of(second.id)
        verifiers = transparency_log().verifiers()
        assert AUDIT_EVENT in bundle and "receipt" not in bundle
        assert all_ok(verify_bundle(bundle, verifiers))
        assert log_repo.entry(first.id).leaf_index + 1 == bundle["leaf_index"]
        import json
        outcomes = verify_file(json.dumps(bundle), verifiers)
        assert [(o.label, o.ok) for o in outcomes] == [(second.id, True)]
        bundle[AUDIT_EVENT]["action"] = "D"  # altered afterwards
        assert not all_ok(verify_bundle(bundle, verifiers))


def test_a_bundle_whose_key_names_another_type_fails_its_format_check(app, sequence, healthcare):
    with app.app_context():
        entry = append(_event(healthcare.user.id))
    sequence()
    with app.app_context():
        bundle = _bundle_of(entry.id)
        bundle[RECEIPT] = bundle.pop(AUDIT_EVENT)
        checks = verify_bundle(bundle, transparency_log().verifiers())
        assert [(c.name, c.ok) for c in checks] == [("format", False)]


def test_appending_twice_keeps_one_leaf_and_a_receipt_cannot_be_appended(app, healthcare):
    with app.app_context():
        event = _event(healthcare.user.id)
        append(event)
        append(event)
        assert log_repo.entry(event["id"]) is not None
        with pytest.raises(LeafError):
            append({**event, "leaf_type": RECEIPT})
