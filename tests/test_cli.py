"""The aqta command: migrate, create-key, and serve on a fresh folder."""
import json
import socket

import pytest
import requests
from click.testing import CliRunner

from app.cli import main
from app.config import database_label
from tests.support.serve import free_port, fresh_env, start_serve


@pytest.fixture
def run(database_url, app):
    def invoke(*args):
        env = {"DATABASE_URL": database_url, "SECRET_KEY": "cli-test-secret-key-0123456789"}
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_migrate_is_idempotent(run):
    result = run("migrate")
    assert result.exit_code == 0
    assert "up to date" in result.output


def test_create_key_prints_a_working_key_last(run, app):
    result = run("create-key", "--email", "Ops@Example.com", "--tier", "pro", "--name", "deploy")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("sk-aqta-")
    me = app.test_client().get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.json["email"] == "ops@example.com"
    assert me.json["tier"] == "pro"


def test_create_key_reuses_the_account_and_changes_its_tier(run, app):
    first = run("create-key", "--email", "team@example.com",
                "--scope", "admin").output.strip().splitlines()[-1]
    second = run("create-key", "--email", "team@example.com", "--tier", "starter").output
    second_key = second.strip().splitlines()[-1]
    client = app.test_client()
    mine = client.get("/api/keys", headers={"Authorization": f"Bearer {first}"}).json["data"]
    assert len(mine) == 2
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {second_key}"})
    assert me.json["tier"] == "starter"


def test_create_key_says_which_scope_it_made(run, app):
    made = run("create-key", "--email", "ops@example.com").output.strip().splitlines()
    assert "created inference key key_" in made[-2]
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {made[-1]}"}
    assert client.get("/v1/models", headers=bearer).status_code == 200
    assert client.get("/api/keys", headers=bearer).status_code == 403
    admin = run("create-key", "--email", "ops@example.com", "--scope", "admin").output
    assert "created admin key key_" in admin.strip().splitlines()[-2]
    bearer = {"Authorization": f"Bearer {admin.strip().splitlines()[-1]}"}
    assert {k["scope"] for k in client.get("/api/keys", headers=bearer).json["data"]} == \
        {"inference", "admin"}


def test_create_key_refuses_bad_input(run):
    assert run("create-key", "--email", "nope").exit_code == 2
    assert run("create-key", "--email", "a@example.com", "--tier", "gold").exit_code == 2
    assert run("create-key", "--email", "a@example.com", "--scope", "root").exit_code == 2


def test_bad_configuration_stops_with_one_line():
    result = CliRunner().invoke(main, ["migrate"], env={"DATABASE_URL": "oracle://x"})
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]


def test_every_command_says_on_stderr_which_database_it_uses(run, database_url):
    label = database_label(database_url)
    migrated = run("migrate")
    assert migrated.stderr.splitlines()[0] == f"aqta: database {label}"
    created = run("create-key", "--email", "ops@example.com")
    assert created.stderr.splitlines() == [f"aqta: database {label}"]
    assert created.stdout.strip().splitlines()[-1].startswith("sk-aqta-")  # $(… | tail -1)
    assert "secret" not in label or "***" in label


def test_database_label_masks_the_password():
    assert database_label("postgresql://aqta:secret@db:5432/aqta") == "postgresql://aqta:***@db:5432/aqta"
    assert database_label("mysql://root@127.0.0.1/aqta") == "mysql://root@127.0.0.1/aqta"
    assert database_label("sqlite:////srv/aqta/aqta.db") == "/srv/aqta/aqta.db"


@pytest.mark.parametrize("command", [["create-key", "--email", "a@example.com"],
                                     ["set-limits", "key_x", "--rpm", "5"], ["routes"]])
def test_no_command_but_serve_and_migrate_makes_a_new_database(tmp_path, monkeypatch, command):
    """Run from the wrong folder, create-key would make a second database the server never reads."""
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": None, "SECRET_KEY": "cli-test-secret-key-0123456789"}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1
    assert f"no database at {tmp_path / 'aqta.db'}" in result.stderr
    assert "DATABASE_URL" in result.stderr and "aqta migrate" in result.stderr
    assert not (tmp_path / "aqta.db").exists()
    assert CliRunner().invoke(main, ["migrate"], env=env).exit_code == 0  # migrate may make it
    assert (tmp_path / "aqta.db").exists()
    assert CliRunner().invoke(main, ["--help"], env=env).exit_code == 0


def test_serve_works_on_a_fresh_folder_with_no_configuration(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port, fresh_env(XDG_RUNTIME_DIR=str(tmp_path)))
    try:
        session = requests.Session()
        signup = session.post(f"{base}/api/auth/signup",
                              json={"email": "first@example.com", "password": "Fresh start 2026"})
        assert signup.status_code == 201
        created = session.post(f"{base}/api/keys", json={"name": "laptop"})
        assert created.status_code == 201
        bearer = {"Authorization": f"Bearer {created.json()['key']}"}
        for _ in range(4):
            assert session.get(f"{base}/api/keys").status_code == 200
            assert requests.get(f"{base}/api/auth/me", timeout=20, headers=bearer).status_code == 200
        assert (tmp_path / "aqta.db").stat().st_mode & 0o077 == 0  # owner-only
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_each_serve_has_its_own_control_socket(tmp_path):
    from gunicorn.ctl.client import ControlClient

    runtime = tmp_path / "run"
    runtime.mkdir()
    ports = [free_port(), free_port()]
    servers = []
    try:
        for n, port in enumerate(ports):
            folder = tmp_path / f"site{n}"
            folder.mkdir()
            servers.append(start_serve(folder, port, fresh_env(XDG_RUNTIME_DIR=str(runtime))))
        for port in ports:
            path = runtime / f"aqta-127.0.0.1-{port}.ctl"
            with ControlClient(str(path), timeout=10) as control:
                listeners = control.send_command("show listeners")["listeners"]
            assert [listener["address"] for listener in listeners] == [f"http://127.0.0.1:{port}"]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=15)


@pytest.fixture
def served(tmp_path):
    """``aqta serve`` in a fresh folder with no configuration: its base URL, once ready."""
    port = free_port()
    server = start_serve(tmp_path, port, fresh_env())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=15)


@pytest.mark.parametrize("request_line, status, code", [
    (b"GET /api/keys?" + b"q" * 10_000 + b" HTTP/1.1", 414, "uri_too_long"),
    (b"GET /api/keys HTTP/9.9", 400, "invalid_request"),
    (b"G\x00T /api/keys HTTP/1.1", 400, "invalid_request"),
])
def test_the_servers_own_errors_have_the_error_shape(served, request_line, status, code):
    """gunicorn answers these before the app sees them: in the JSON error shape too."""
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_line + b"\r\nHost: localhost\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode()
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]
