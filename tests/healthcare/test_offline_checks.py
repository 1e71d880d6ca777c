"""``aqta receipts verify`` and ``aqta log monitor`` on what a hostile or broken log could hand over.

The files and the log here are built in memory (no gateway, no database): a
scripted loopback server plays the log for the monitor, answering each request
with the note or proof a test queued, so each way a log can lie or fail is shown
to end in FAIL with its reason, and the saved checkpoint kept.
"""
from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.healthcare.checkpoint import Checkpoint, sign_checkpoint
from app.healthcare.leaves import leaf_bytes
from app.healthcare.merkle import MemoryTree
from app.healthcare.note import Signer
from app.healthcare.verify import make_bundle
from tests.fakes.scripted import ScriptedUpstream, refused_url
from tests.fakes.server import Reply
from tests.healthcare.test_offline_cli import aqta
from tests.healthcare.test_verify_bundle import LEAVES, ORIGIN, amendment, receipt


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture
def key(signer) -> str:
    return str(signer.verifier)


class Log:
    """A log's leaves in memory, its checkpoints signed by ``signer``."""

    def __init__(self, signer: Signer, leaves: list[dict], origin: str = ORIGIN):
        self.signer, self.leaves, self.origin = signer, leaves, origin
        self.tree = MemoryTree()
        for leaf in leaves:
            self.tree.append(leaf_bytes(leaf))

    def checkpoint(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        return sign_checkpoint(Checkpoint(self.origin, size, self.tree.root(size)), self.signer)

    def bundle(self, index: int) -> dict:
        size = len(self.leaves)
        return make_bundle(self.leaves[index], index, self.tree.inclusion_proof(index, size),
                           self.checkpoint(), size)

    def consistency(self, old: int, new: int) -> dict:
        return {"proof": [base64.b64encode(h).decode() for h in self.tree.consistency_proof(old, new)]}


def note_reply(note: str | bytes) -> Reply:
    return Reply(note if isinstance(note, bytes) else note.encode(), headers={"Content-Type": "text/plain"})


# -- aqta receipts verify ---------------------------------------------------------------------

def test_a_receipt_is_shown_with_its_amendments_each_checked_to_amend_it(signer, key, tmp_path):
    leaves = [receipt(1), amendment(2, "rcpt_1"), amendment(3, "rcpt_9"), receipt(4)]
    log = Log(signer, leaves)
    document = {**log.bundle(0), "amendments": [log.bundle(1), log.bundle(2), log.bundle(3)]}
    (tmp_path / "receipt.json").write_text(json.dumps(document, indent=2))
    result = aqta("receipts", "verify", "receipt.json", "--public-key", key, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "OK   rcpt_1: all checks passed",
        "OK   amd_2: all checks passed",
        "FAIL amd_3: amends_receipt: amends 'rcpt_9', not the receipt it is shown with ('rcpt_1')",
        "FAIL rcpt_4: amends_receipt: amends None, not the receipt it is shown with ('rcpt_1')",
        "2 of 4 receipt(s) verified"]


def test_an_amendment_shown_with_no_receipt_is_refused(signer, key, tmp_path):
    log = Log(signer, [receipt(1), amendment(2, "rcpt_1")])
    document = {"status": "sequenced", "amendments": [log.bundle(1), "junk"]}
    (tmp_path / "receipt.json").write_text(json.dumps(document))
    result = aqta("receipts", "verify", "receipt.json", "--public-key", key, cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "FAIL document: format: not a leaf bundle (no receipt, audit_event or amendment object)",
        "FAIL amd_2: amends_receipt: amends 'rcpt_1', not the receipt it is shown with (None)",
        "FAIL amendment: amends_receipt: amends None, not the receipt it is shown with (None); "
        "format: not a leaf bundle (no receipt, audit_event or amendment object)",
        "0 of 3 receipt(s) verified"]


def test_json_lines_are_labelled_by_receipt_or_line_and_every_failure_is_given(signer, key, tmp_path):
    log = Log(signer, LEAVES)
    broken = {**log.bundle(2), "tree_size": 6, "leaf_index": "2"}
    lines = [json.dumps(log.bundle(0)), "", "   ", "{not json", json.dumps(broken), json.dumps({"x": 1}),
             json.dumps(log.bundle(4))]
    (tmp_path / "receipts.jsonl").write_text("\n".join(lines) + "\n")
    result = aqta("receipts", "verify", "receipts.jsonl", "--public-key", key, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "OK   rcpt_1: all checks passed",
        "FAIL line 4: format: not a leaf bundle (no receipt, audit_event or amendment object)",
        "FAIL rcpt_3: tree_size: the bundle says 6, the checkpoint 5; inclusion_proof: leaf_index is not "
        "an integer",
        "FAIL line 6: format: not a leaf bundle (no receipt, audit_event or amendment object)",
        "OK   rcpt_5: all checks passed",
        "2 of 5 receipt(s) verified"]


def test_a_leaf_without_an_id_is_labelled_by_its_line(signer, key, tmp_path):
    nameless = {"leaf_type": "receipt", "v": 1, "model": "mock-1"}
    log = Log(signer, [nameless])
    (tmp_path / "receipts.jsonl").write_text(json.dumps(log.bundle(0)) + "\n" + json.dumps(log.bundle(0)))
    result = aqta("receipts", "verify", "receipts.jsonl", "--public-key", key, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["OK   line 1: all checks passed", "OK   line 2: all checks passed",
                                          "2 of 2 receipt(s) verified"]


@pytest.mark.parametrize("text", ["", "\n\n  \n"], ids=["empty", "blank-lines"])
def test_a_file_without_a_receipt_fails(key, tmp_path, text):
    (tmp_path / "receipts.jsonl").write_text(text)
    result = aqta("receipts", "verify", "receipts.jsonl", "--public-key", key, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["FAIL file: no receipt in the file", "0 of 1 receipt(s) verified"]


def test_public_keys_can_come_from_a_file_of_them(signer, key, tmp_path):
    other = Signer.generate("aqta.test/old-log")
    (tmp_path / "keys.txt").write_text(f"\n  {other.verifier}\n\n{key}  \n")
    (tmp_path / "receipt.json").write_text(json.dumps(Log(signer, LEAVES).bundle(3)))
    result = aqta("receipts", "verify", "receipt.json", "--public-key", "keys.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["OK   evt_4: all checks passed", "1 of 1 receipt(s) verified"]


def test_a_key_file_is_read_only_when_the_value_is_not_a_key(tmp_path):
    signer = Signer.generate("keys.example.test")
    while "/" in str(signer.verifier):  # a key that can also be a file's name
        signer = Signer.generate("keys.example.test")
    key = str(signer.verifier)
    (tmp_path / "receipt.json").write_text(json.dumps(Log(signer, LEAVES).bundle(0)))
    (tmp_path / key).write_text("not a key\n")  # a file named as the key does not stand in for it
    named = aqta("receipts", "verify", "receipt.json", "--public-key", key, cwd=tmp_path)
    assert named.returncode == 0, named.stdout + named.stderr
    (tmp_path / "empty.txt").write_text(" \n\n")
    for value, reason in [("empty.txt", "give at least one public key"),
                          ("missing.txt", "a verifier key is name+keyid+base64key")]:
        result = aqta("receipts", "verify", "receipt.json", "--public-key", value, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.endswith(f"\nError: Invalid value for --public-key: {reason}\n"), result.stderr


def test_an_origin_asked_for_is_required_of_every_receipts_checkpoint(signer, key, tmp_path):
    ours, theirs = Log(signer, LEAVES), Log(signer, LEAVES, "aqta.test/other")
    lines = [json.dumps(ours.bundle(0)), json.dumps(theirs.bundle(2))]
    (tmp_path / "receipts.jsonl").write_text("\n".join(lines))
    result = aqta("receipts", "verify", "receipts.jsonl", "--public-key", key, "--origin", ORIGIN,
                  cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "OK   rcpt_1: all checks passed",
        "FAIL rcpt_3: checkpoint_signature: the checkpoint is for log 'aqta.test/other', not "
        "'aqta.test/verify-log'",
        "1 of 2 receipt(s) verified"]
    assert aqta("receipts", "verify", "receipts.jsonl", "--public-key", key, cwd=tmp_path).returncode == 0


# -- aqta log monitor -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def _log_server() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def log_server(_log_server) -> ScriptedUpstream:
    _log_server.reset()
    return _log_server


def monitor(log_server_url: str, key: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return aqta("log", "monitor", log_server_url, "--public-key", key, "--state", "state", cwd=tmp_path)


def test_the_first_checkpoint_is_saved_and_a_grown_log_is_proven_consistent(signer, key, tmp_path,
                                                                            log_server):
    log = Log(signer, LEAVES)
    log_server.answer_next(note_reply(log.checkpoint(3)))
    first = monitor(log_server.url + "/X/", key, tmp_path)  # a gateway under a path of its own
    assert (first.returncode, first.stdout) == (0, "OK: checkpoint to 3 verified and saved\n")
    assert (tmp_path / "state").read_text(encoding="utf-8") == log.checkpoint(3)
    log_server.answer_next(note_reply(log.checkpoint()))
    log_server.answer_next(Reply(log.consistency(3, 5)))
    second = monitor(log_server.url, key, tmp_path)
    assert (second.returncode, second.stdout) == (0, "OK: checkpoint from 3 to 5 verified and saved\n")
    assert (tmp_path / "state").read_text(encoding="utf-8") == log.checkpoint()
    assert [(r.path, r.query) for r in log_server.received] == [
        ("/X/api/health/log/checkpoint", {}), ("/api/health/log/checkpoint", {}),
        ("/api/health/log/consistency", {"from": ["3"], "to": ["5"]})]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]  # no temporary file left
    log_server.answer_next(note_reply(log.checkpoint()))
    same = monitor(log_server.url, key, tmp_path)
    assert (same.returncode, same.stdout) == (0, "OK: checkpoint from 5 to 5 verified and saved\n")
    assert len(log_server.received) == 4  # the same tree needs no proof


def _saved(tmp_path: Path, note: str) -> str:
    (tmp_path / "state").write_text(note, encoding="utf-8")
    return note


def _failure(log_server, key, tmp_path, replies: list[Reply]) -> str:
    for reply in replies:
        log_server.answer_next(reply)
    result = monitor(log_server.url, key, tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL: ") and result.stdout.endswith("\n")
    return result.stdout[len("FAIL: "):-1]


def test_a_log_that_rewrote_its_history_fails_and_the_saved_checkpoint_is_kept(signer, key, tmp_path,
                                                                               log_server):
    log = Log(signer, LEAVES)
    rewritten = Log(signer, [receipt(9)] + LEAVES[1:])
    saved = _saved(tmp_path, log.checkpoint(3))
    cases = [
        ([note_reply(log.checkpoint(2))], "the log shrank from 3 to 2 leaves: history was rewritten"),
        ([note_reply(rewritten.checkpoint(3))], "two different roots for tree size 3: history was rewritten"),
        ([note_reply(Log(signer, LEAVES, "aqta.test/other").checkpoint(5))],
         "the log's origin changed from 'aqta.test/verify-log' to 'aqta.test/other'"),
        ([note_reply(rewritten.checkpoint()), Reply(rewritten.consistency(3, 5))],
         "the consistency proof from size 3 to 5 fails (the consistency proof does not lead to the old "
         "root): history was rewritten"),
        ([note_reply(log.checkpoint()), Reply(log.consistency(2, 5))],
         "the consistency proof from size 3 to 5 fails (the consistency proof is too short): history was "
         "rewritten"),
    ]
    for replies, reason in cases:
        assert _failure(log_server, key, tmp_path, replies) == reason
        assert (tmp_path / "state").read_text(encoding="utf-8") == saved


def test_a_log_that_cannot_prove_consistency_fails_and_the_saved_checkpoint_is_kept(signer, key, tmp_path,
                                                                                   log_server):
    log = Log(signer, LEAVES)
    saved = _saved(tmp_path, log.checkpoint(3))
    prefix = "could not check consistency from 3 to 5: "
    cases = [
        (Reply({"error": "down"}, 503), prefix + "HTTP Error 503: Service Unavailable"),
        (Reply(b"<html>", headers={"Content-Type": "text/html"}), prefix + "Expecting value: line 1 column 1 "
                                                                          "(char 0)"),
        (Reply({"hashes": []}), prefix + "'proof'"),
        (Reply(["proof"]), prefix + "list indices must be integers or slices, not str"),
        (Reply({"proof": ["not base64!"]}), prefix + "Only base64 data is allowed"),
        (Reply({"proof": [7]}), prefix + "argument should be a bytes-like object or ASCII string, not 'int'"),
    ]
    for reply, reason in cases:
        assert _failure(log_server, key, tmp_path, [note_reply(log.checkpoint()), reply]) == reason
        assert (tmp_path / "state").read_text(encoding="utf-8") == saved


def test_a_checkpoint_that_cannot_be_fetched_or_trusted_fails(signer, key, tmp_path, log_server):
    log = Log(signer, LEAVES)
    stranger = Log(Signer.generate(ORIGIN), LEAVES)
    assert _failure(log_server, key, tmp_path, [note_reply(stranger.checkpoint())]) == (
        "the checkpoint does not verify: no trusted key signed the note")
    assert _failure(log_server, key, tmp_path, [note_reply(b"\xff" + log.checkpoint().encode())]).startswith(
        "could not fetch the checkpoint: 'utf-8' codec can't decode byte 0xff")
    assert _failure(log_server, key, tmp_path, [Reply({"error": "gone"}, 404)]) == (
        "could not fetch the checkpoint: HTTP Error 404: Not Found")
    _saved(tmp_path, stranger.checkpoint(3))
    assert _failure(log_server, key, tmp_path, [note_reply(log.checkpoint())]) == (
        "the saved checkpoint in state does not verify: no trusted key signed the note")
    assert not any(p.name != "state" for p in tmp_path.iterdir())


@pytest.mark.parametrize("url", ["ftp://log.example.test", "log.example.test", "file:///etc/passwd"])
def test_only_an_http_or_https_log_is_asked(key, tmp_path, url):
    result = monitor(url, key, tmp_path)
    assert (result.returncode, result.stdout) == (1, "FAIL: BASE_URL must start with http:// or https://\n")
    assert not (tmp_path / "state").exists()


def test_an_unreachable_log_fails_over_http_and_https(key, tmp_path):
    closed = refused_url()
    for url in (closed, closed.replace("http://", "https://")):
        result = monitor(url, key, tmp_path)
        assert (result.returncode, result.stdout) == (
            1, "FAIL: could not fetch the checkpoint: <urlopen error [Errno 111] Connection refused>\n")
