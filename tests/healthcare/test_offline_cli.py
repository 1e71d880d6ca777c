"""The offline commands: ``aqta receipts verify`` and ``aqta log monitor``, in a bare process."""
from __future__ import annotations

import ast
import contextlib
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import app.healthcare as healthcare_package
from app.cli import main
from storage.log_models import LogCheckpoint, LogEntry, LogNode, LogState
from tests.gateway.conftest import LiveGateway
from tests.healthcare.test_exports import _answers, _export, _sequenced, embedded  # noqa: F401
from tests.support import wait_for

ROOT = Path(__file__).parents[2]
OFFLINE_MODULES = ["offline", "verify", "merkle", "note", "checkpoint", "leaves", "commitments",
                   "csv_rows"]


def bare_aqta(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the command in a fresh interpreter with no Aqta settings at all in its environment."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def aqta(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the command in this process (the mutation run sees only code run in the test's own
    process); ``bare_aqta`` shows once that it needs no settings and no database."""
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(main, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_the_offline_modules_use_only_the_standard_library_and_cryptography():
    allowed = set(sys.stdlib_module_names) | {"cryptography", "app"}
    for name in OFFLINE_MODULES:
        tree = ast.parse((Path(healthcare_package.__file__).parent / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] in allowed, (name, node.module)
                if node.module == "app.healthcare":
                    assert all(alias.name in OFFLINE_MODULES for alias in node.names), node.names
                elif node.module.startswith("app"):
                    assert node.module.removeprefix("app.healthcare.") in OFFLINE_MODULES, node.module
            elif isinstance(node, ast.Import):
                assert all(alias.name.split(".")[0] in allowed - {"app"} for alias in node.names)


@pytest.fixture
def public_key(client) -> str:
    return client.get("/api/health/log/keys").get_json()["keys"][0]["vkey"]


def _receipt(chat, healthcare, sequence, client, tmp_path) -> Path:
    receipt_id = chat(healthcare).get_json()["aqta"]["receipt_id"]
    sequence()
    bundle = client.get(f"/api/health/receipts/{receipt_id}", headers=healthcare.headers).get_json()
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(bundle))
    return path


def test_verify_accepts_a_receipt_with_only_the_public_key(chat, healthcare, sequence, client, tmp_path,
                                                           public_key):
    path = _receipt(chat, healthcare, sequence, client, tmp_path)
    result = bare_aqta("receipts", "verify", str(path), "--public-key", public_key, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 1 receipt(s) verified" in result.stdout
    assert not (tmp_path / "aqta.db").exists()  # it never touched a database


@pytest.mark.parametrize("field", ["cost_eur", "model", "created_at", "request_id"])
def test_verify_rejects_an_altered_receipt_with_a_reason(chat, healthcare, sequence, client, tmp_path,
                                                         public_key, field):
    path = _receipt(chat, healthcare, sequence, client, tmp_path)
    bundle = json.loads(path.read_text())
    bundle["receipt"][field] = bundle["receipt"][field][:-1] + ("1" if bundle["receipt"][field][-1] != "1"
                                                                else "2")
    del bundle["leaf_hash"]  # a forger would recompute it
    path.write_text(json.dumps(bundle))
    result = aqta("receipts", "verify", str(path), "--public-key", public_key, cwd=tmp_path)
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "inclusion_proof" in result.stdout


def test_verify_rejects_an_unknown_key(chat, healthcare, sequence, client, tmp_path):
    path = _receipt(chat, healthcare, sequence, client, tmp_path)
    other = aqta("log", "generate-key", "aqta.test/healthcare-log", cwd=tmp_path).stdout.split()[-1]
    result = aqta("receipts", "verify", str(path), "--public-key", other, cwd=tmp_path)
    assert result.returncode == 1 and "no trusted key" in result.stdout
    bad = aqta("receipts", "verify", str(path), "--public-key", "nonsense+1+2", cwd=tmp_path)
    assert bad.returncode == 2 and "--public-key" in bad.stderr


def _rewrite_history(app, sequence):
    """What an operator with database access and the key could do: rebuild the tree differently."""
    with app.app_context():
        first = LogEntry.select().where(LogEntry.leaf_index == 0).get()
        LogEntry.delete().where(LogEntry.id == first.id).execute()
        LogEntry.update(leaf_index=None, sequenced_at=None).execute()
        for model in (LogNode, LogState, LogCheckpoint):
            model.delete().execute()
    return sequence()


def test_monitor_follows_the_log_and_catches_a_rewritten_history(chat, healthcare, sequence, client,
                                                                 tmp_path, public_key, app):
    live = LiveGateway(app)
    numbers = iter(range(100))

    def ask() -> None:  # a question of its own each time: the same one five times is a loop
        chat(healthcare, messages=[{"role": "user", "content": f"Question {next(numbers):05d}."}])

    try:
        state = tmp_path / "state"
        for _ in range(3):
            ask()
        sequence()
        first = aqta("log", "monitor", live.url, "--public-key", public_key, "--state", str(state),
                     cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "to 3 verified" in first.stdout
        for _ in range(4):
            ask()
        sequence()
        second = aqta("log", "monitor", live.url, "--public-key", public_key, "--state", str(state),
                      cwd=tmp_path)
        assert second.returncode == 0 and "from 3 to 7" in second.stdout, second.stdout
        saved = state.read_text()
        ask()
        ask()
        assert _rewrite_history(app, sequence).size == 8  # one leaf dropped, two added
        third = aqta("log", "monitor", live.url, "--public-key", public_key, "--state", str(state),
                     cwd=tmp_path)
        assert third.returncode == 1
        assert "history was rewritten" in third.stdout
        assert state.read_text() == saved  # the evidence is kept
    finally:
        live.stop()


def test_verify_checks_every_export_format_row_by_row(embedded, healthcare, tmp_path):  # noqa: F811
    app, client = embedded
    ids = _answers(client, healthcare, 3)
    wait_for(lambda: _sequenced(client, healthcare, ids[-1]), "the receipts to be sequenced")
    key = client.get("/api/health/log/keys").get_json()["keys"][0]["vkey"]
    for fmt in ("jsonl", "csv"):
        path = tmp_path / f"receipts.{fmt}"
        path.write_bytes(_export(client, healthcare, fmt))
        result = aqta("receipts", "verify", str(path), "--public-key", key, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "3 of 3 receipt(s) verified" in result.stdout
        assert [line.split()[1].rstrip(":") for line in result.stdout.splitlines()[:3]] == ids
    table = list(csv.reader(io.StringIO((tmp_path / "receipts.csv").read_text(), newline="")))
    column = {name: number for number, name in enumerate(table[0])}

    def verify(rows: list[list[str]]) -> subprocess.CompletedProcess:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        (tmp_path / "changed.csv").write_text(out.getvalue())
        return aqta("receipts", "verify", str(tmp_path / "changed.csv"), "--public-key", key, cwd=tmp_path)

    # A readable cell edited in a spreadsheet: the signed leaf says otherwise.
    edited = [list(row) for row in table]
    edited[2][column["model"]] = "mock-2"
    result = verify(edited)
    assert result.returncode == 1 and "2 of 3" in result.stdout
    assert f"FAIL {ids[1]}: columns: column(s) model differ" in result.stdout, result.stdout
    # A forged leaf, its cells made to match: no longer the leaf the signed tree holds.
    forged = [list(row) for row in edited]
    forged[2][column["leaf"]] = forged[2][column["leaf"]].replace('"model":"mock-1"', '"model":"mock-2"')
    result = verify(forged)
    assert result.returncode == 1 and "2 of 3" in result.stdout
    assert "columns" not in result.stdout and "inclusion_proof" in result.stdout, result.stdout
    # A CSV without the leaf column (a spreadsheet's own copy) cannot be checked: said plainly.
    result = verify([row[:column["leaf"]] for row in table])
    assert result.returncode == 1 and "no leaf column" in result.stdout, result.stdout
