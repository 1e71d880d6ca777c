"""The database from ``DATABASE_URL``, bound late to the models' proxy.

SQLite is the embedded default. PostgreSQL and MySQL get a connection pool
(playhouse's ``+pool`` schemes); under gevent the pool's locks and per-"thread"
connection state are greenlet-local once gevent has patched the standard
library, and psycopg2 is made cooperative with psycogreen.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import peewee
from playhouse.db_url import connect

from storage.models import database_proxy
from storage.tables import ALL_MODELS

STALE_SECONDS = 300  # a pooled connection idle this long is reopened
POOL_WAIT_SECONDS = 10  # how long a request waits for a free pooled connection


def backend_of(url: str) -> str:
    scheme = urlsplit(url).scheme.split("+")[0]
    return {"postgres": "postgresql"}.get(scheme, scheme)


def database_from_url(url: str, pool_size: int = 20) -> peewee.Database:
    backend = backend_of(url)
    parts = urlsplit(url)
    if backend == "sqlite":
        _create_private(sqlite_file(url))
        # WAL lets readers and one writer work at once; busy_timeout waits for the
        # write lock instead of failing at once when several workers write.
        return connect(url, pragmas={"journal_mode": "wal", "foreign_keys": 1,
                                     "busy_timeout": 10000, "synchronous": "normal"})
    if backend == "postgresql":
        _make_psycopg_cooperative()
        pooled = urlunsplit(("postgresql+pool", *parts[1:]))
        return connect(pooled, max_connections=pool_size, stale_timeout=STALE_SECONDS,
                       timeout=POOL_WAIT_SECONDS)
    if backend == "mysql":
        pooled = urlunsplit(("mysql+pool", *parts[1:]))
        return connect(pooled, max_connections=pool_size, stale_timeout=STALE_SECONDS,
                       timeout=POOL_WAIT_SECONDS, charset="utf8mb4")
    raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")


def sqlite_file(url: str) -> str | None:
    """The file an SQLite URL names (relative to the current folder unless absolute);
    None for another backend or an in-memory database."""
    path = urlsplit(url).path[1:]
    if backend_of(url) != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def _create_private(path: str | None) -> None:
    """Create a new SQLite file readable by its owner only (its -wal and -shm files follow)."""
    if path is None or os.path.exists(path):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another process created it first
        pass


_databases: dict[str, peewee.Database] = {}  # one per URL per process, so pools are shared


def bind_database(url: str, pool_size: int = 20) -> peewee.Database:
    """Point every model at the database for ``url`` and return it."""
    database = _databases.get(url)
    if database is None:
        database = _databases[url] = database_from_url(url, pool_size)
    if database_proxy.obj is not database:
        close_connection()
        database_proxy.initialize(database)
    return database


def close_connection() -> None:
    """Return this request's connection (to the pool, for pooled backends)."""
    database = database_proxy.obj
    if database is not None and not database.is_closed():
        database.close()


def ping() -> None:
    """Raise if the database cannot answer a trivial query."""
    database_proxy.execute_sql("SELECT 1")


def truncate_all() -> None:
    """Delete every row in every table (tests use this between cases)."""
    with database_proxy.atomic():
        for model in reversed(ALL_MODELS):
            model.delete().execute()


def _make_psycopg_cooperative() -> None:
    try:
        from gevent import monkey
    except ImportError:
        return
    if monkey.is_module_patched("socket"):
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def is_sqlite() -> bool:
    return isinstance(database_proxy.obj, peewee.SqliteDatabase)


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that takes the write lock up front on SQLite (no BUSY_SNAPSHOT on upgrade)."""
    if is_sqlite():
        with database_proxy.obj.atomic("IMMEDIATE"):
            yield
    else:
        with database_proxy.atomic():
            yield
