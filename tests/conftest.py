"""Fixtures: the app on every database backend, real services, and test data factories.

Backends come from AQTA_TEST_BACKENDS (default: sqlite,postgresql,mysql). A backend
whose server is not running is skipped locally and fails the run when CI is set.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

import storage.keys as keys_repo
import storage.users as users_repo
from app import create_app
from app.config import Settings
from app.identity.api_keys import generate_key
from app.identity.passwords import hash_password
from storage.database import bind_database, close_connection, truncate_all
from storage.migrate import apply_migrations
from storage.records import UserRecord
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.support import delete_redis_keys, redis_names_for
from workers import runtime as workers_runtime

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = [name.strip() for name in
            os.environ.get("AQTA_TEST_BACKENDS", "sqlite,postgresql,mysql").split(",") if name.strip()]
SERVER_URLS = {
    "postgresql": os.environ.get("AQTA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
    "mysql": os.environ.get("AQTA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"),
}
REDIS_URL = os.environ.get("AQTA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "Correct horse 9 battery"


def first_backend_only(request, why: str) -> None:
    """Skip this test on every backend but the first: ``why`` says why one is enough."""
    if request.node.callspec.params.get("database_url", BACKENDS[0]) != BACKENDS[0]:
        pytest.skip(why)


def unavailable(what: str, error: Exception):
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _server_database(backend: str, name: str, create: bool) -> None:
    """Create or drop a throwaway database on a local server."""
    if backend == "postgresql":
        import psycopg2

        conn = psycopg2.connect(SERVER_URLS[backend] + "/postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            if create:
                cursor.execute(f'CREATE DATABASE "{name}"')
        conn.close()
    else:
        from urllib.parse import urlsplit

        import pymysql

        parts = urlsplit(SERVER_URLS[backend])
        conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                               user=parts.username or "root", password=parts.password or "")
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            if create:
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        conn.close()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A migrated, empty database on one backend, for the whole session."""
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'aqta.db'}"
        name = None
    else:
        name = f"aqta_test_{os.getpid()}"
        try:
            _server_database(backend, name, create=True)
        except Exception as exc:  # the driver's own error type varies
            unavailable(backend, exc)
        url = f"{SERVER_URLS[backend]}/{name}"
    bind_database(url)
    apply_migrations()
    close_connection()
    yield url
    if name:
        close_connection()
        from storage.models import database_proxy

        if hasattr(database_proxy.obj, "close_all"):
            database_proxy.obj.close_all()
        _server_database(backend, name, create=False)


@pytest.fixture
def redis_names():
    """This test's own names for all the app writes in Redis (its keys, streams and job
    queues), deleted afterwards: a deployment sharing the Redis never sees (or drains) them."""
    tag = f"aqta-test-{uuid.uuid4().hex[:12]}"
    yield redis_names_for(tag)
    delete_redis_keys(tag, REDIS_URL)  # after every app of the test (and its workers) has stopped


@pytest.fixture
def settings(database_url, tmp_path, redis_names) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret-key-0123456789abcdef",
                    key_cache_seconds=0.0, request_journal_dir=str(tmp_path / "journal"),
                    risk_journal_dir=str(tmp_path / "risk-journal"),
                    signin_rate_limit="1000/minute",  # tests sign in often; the throttle has its own
                    **redis_names)


@pytest.fixture
def make_app(settings):
    """Build an app with some settings changed; the database starts empty."""
    built = []

    def make(**overrides):
        app = create_app(settings.override(**overrides))
        app.config["TESTING"] = True
        if not built:  # before any worker starts: one started first would sign the last test's tree
            with app.app_context():
                truncate_all()
        workers_runtime.init_app(app)  # as wsgi.py does: embedded mode runs the actors here
        built.append(app)
        return app

    yield make
    workers_runtime.stop(drain_seconds=0)  # an embedded worker (run_embedded_worker=True) ends here
    close_connection()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis_url():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url):
    """A client of the shared Redis server, closed after the test."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def redis_tag(redis_url):
    """A prefix of this test's own for the streams and keys it makes in the shared Redis
    itself (apart from any app's), every key under it deleted afterwards."""
    tag = f"aqta-test:{uuid.uuid4().hex}"
    yield tag
    delete_redis_keys(tag, redis_url)


@pytest.fixture
def jobs_namespace(redis_url, redis_names):
    """A Redis key prefix of this test's own for Dramatiq and the scheduler, apart from its
    apps' default one; removed with the test's other names, once its workers have stopped."""
    return f"{redis_names['jobs_namespace']}-jobs"


@pytest.fixture
def private_redis(tmp_path, redis_url):
    """A Redis server of this test's own, not yet started (``.start()``, ``.stop()``)."""
    import shutil

    from tests.support import PrivateRedis

    if not shutil.which("redis-server"):
        unavailable("redis-server", FileNotFoundError("redis-server is not installed"))
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@dataclass
class Account:
    user: UserRecord
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def receiver():
    """A webhook receiver on a free loopback port, verifying what it gets as a customer would."""
    started = WebhookReceiver().start()
    yield started
    started.stop()


@pytest.fixture
def make_account(app):
    """Create a user with a password and one API key (admin unless asked), through the
    repositories."""
    counter = iter(range(1, 10_000))

    def make(tier: str = "free", email: str | None = None, scope: str = "admin") -> Account:
        with app.app_context():
            user = users_repo.create(email or f"user{next(counter)}@example.com",
                                     hash_password(PASSWORD), tier)
            new = generate_key()
            record = keys_repo.create(user.id, "test", new.key_hash, new.prefix, new.last_four,
                                      scope=scope)
        return Account(user, new.plaintext, record.id)

    return make


@pytest.fixture
def openai_upstream():
    """A fake OpenAI upstream on loopback of this test's own, for a real ``aqta serve`` to call."""
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()
