"""Migration 010 gives existing keys the least privilege that locks no account out."""
from __future__ import annotations

import logging
import os

import pytest
from peewee_migrate import Router

from storage.database import database_from_url
from storage.migrate import MIGRATIONS_DIR
from tests.conftest import BACKENDS, SERVER_URLS, _server_database, unavailable

NOW = "2026-01-01 00:00:00"


@pytest.fixture(params=BACKENDS)
def fresh_database(request, tmp_path):
    """An empty database of this test's own (the shared one is migrated already)."""
    backend = request.param
    if backend == "sqlite":
        database = database_from_url(f"sqlite:///{tmp_path / 'old.db'}")
        yield database
        database.close()
        return
    name = f"aqta_mig_{os.getpid()}"
    try:
        _server_database(backend, name, create=True)
    except Exception as exc:  # the driver's own error type varies
        unavailable(backend, exc)
    database = database_from_url(f"{SERVER_URLS[backend]}/{name}", pool_size=2)
    yield database
    database.close_all()
    _server_database(backend, name, create=False)


def test_existing_keys_get_admin_only_where_the_key_is_the_only_way_in(fresh_database):
    router = Router(fresh_database, migrate_dir=MIGRATIONS_DIR, logger=logging.getLogger("t"))
    router.run("009_session_generation")
    users = [("usr_pw", "pw@example.com", "argon2-hash"), ("usr_oauth", "g@example.com", None),
             ("usr_cli", "cli@example.com", None)]
    for user_id, email, password_hash in users:
        fresh_database.execute_sql(
            "INSERT INTO users (id, email, password_hash, tier, created_at, session_generation) "
            "VALUES (%s, %s, %s, 'free', %s, 0)".replace("%s", fresh_database.param),
            (user_id, email, password_hash, NOW))
        fresh_database.execute_sql(
            "INSERT INTO api_keys (id, user_id, name, key_hash, prefix, last_four, created_at) "
            "VALUES (%s, %s, 'k', %s, 'sk-aqta-abcd', 'wxyz', %s)".replace("%s", fresh_database.param),
            (f"key_{user_id}", user_id, f"hash-{user_id}", NOW))
    fresh_database.execute_sql(
        "INSERT INTO oauth_identities (id, user_id, provider, subject, created_at) "
        "VALUES ('oid_1', 'usr_oauth', 'google', 'g-1', %s)".replace("%s", fresh_database.param),
        (NOW,))
    assert router.run()[0] == "010_key_scopes"
    scopes = dict(fresh_database.execute_sql("SELECT id, scope FROM api_keys").fetchall())
    assert scopes == {"key_usr_pw": "inference", "key_usr_oauth": "inference",
                      "key_usr_cli": "admin"}
