"""The log's signing keys: configured or generated once, rotated, every old one still published."""
from __future__ import annotations

import json

import pytest

from app.config import ConfigError, settings_from_env
from app.healthcare.note import Signer
from app.healthcare.offline import load_verifiers, verify_file
from app.healthcare.sequencer import drain_leaves, publish
from app.healthcare.transparency import transparency_log

ORIGIN = "aqta.test/healthcare-log"


def test_log_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # SECRET_KEY's file lands here
    first, second = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    settings = settings_from_env({"LOG_SIGNING_KEYS": f"{first}, {second}", "LOG_ORIGIN": ORIGIN,
                                  "RECEIPT_SECRET": "r" * 32, "EXPORT_DIR": "/srv/exports"})
    assert settings.log_signing_keys == (str(first), str(second))
    assert (settings.log_origin, settings.receipt_secret, settings.export_dir) == (
        ORIGIN, "r" * 32, "/srv/exports")
    assert settings_from_env({}).log_signing_keys == ()


@pytest.mark.parametrize("value", ["nonsense", "PRIVATE+KEY+x+00000000+AAAA",
                                   str(Signer.generate("a")).replace("+a+", "+b+")],
                         ids=["nonsense", "malformed", "another-origin"])  # the same ids in every process
def test_an_unusable_signing_key_stops_start_up_naming_the_variable(value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="LOG_SIGNING_KEYS"):
        settings_from_env({"LOG_SIGNING_KEYS": value})


def _bundle(chat, account, sequence, client) -> str:
    receipt_id = chat(account).get_json()["aqta"]["receipt_id"]
    sequence()
    return client.get(f"/api/health/receipts/{receipt_id}", headers=account.headers).get_data(as_text=True)


def _published(client) -> list[dict]:
    return client.get("/api/health/log/keys").get_json()["keys"]


def test_a_generated_key_is_kept_and_shared_and_rotates(make_app, healthcare, chat, sequence, client):
    old = _bundle(chat, healthcare, sequence, client)
    other_process = make_app()
    with other_process.app_context():
        assert str(transparency_log().signer().verifier) == _published(client)[0]["vkey"]
        fresh = transparency_log().rotate_generated_key()
    keys = _published(other_process.test_client())
    assert [k["active"] for k in keys] == [False, True] and keys[1]["vkey"] == str(fresh)
    with other_process.app_context():
        chat(healthcare)
        drain_leaves()
        assert publish().key_id == f"{fresh.key_id:08x}"
    verifiers = load_verifiers([k["vkey"] for k in keys])
    assert all(o.ok for o in verify_file(old, verifiers, ORIGIN))


def test_configured_keys_rotate_and_old_checkpoints_still_verify(make_app, make_account, tmp_path):
    first, second = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    before = make_app(log_signing_keys=(str(first),))
    account = make_account(tier="healthcare")
    client = before.test_client()

    def answer_and_sequence(app) -> str:
        response = app.test_client().post("/v1/chat/completions", headers=account.headers,
                                          json={"model": "mock-1", "messages": [{"role": "user",
                                                                                  "content": "hi"}]})
        receipt_id = response.get_json()["aqta"]["receipt_id"]
        with app.app_context():
            drain_leaves()
            publish()
        return app.test_client().get(f"/api/health/receipts/{receipt_id}",
                                     headers=account.headers).get_data(as_text=True)

    old = answer_and_sequence(before)
    assert json.loads(old)["checkpoint"].endswith("\n")
    assert _published(client)[0]["vkey"] == str(first.verifier)
    after = make_app(log_signing_keys=(str(second), str(first)))
    new = answer_and_sequence(after)
    keys = _published(after.test_client())
    assert {k["vkey"]: k["active"] for k in keys} == {str(second.verifier): True, str(first.verifier): False}
    # the new checkpoint re-signs the old tree size too, with the new key
    assert verify_file(new, [second.verifier])[0].ok and not verify_file(new, [first.verifier])[0].ok
    assert verify_file(old, [first.verifier])[0].ok
    dropped = make_app(log_signing_keys=(str(second),))  # the old key leaves the configuration...
    keys = [k["vkey"] for k in _published(dropped.test_client())]
    assert str(first.verifier) in keys  # ...but stays published, remembered by the database
