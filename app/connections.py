"""The app's connections to the outside: the database, and Redis when configured."""
from __future__ import annotations

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.redis_client import FailFastRedis, QuickCheckConnection
from storage.database import bind_database, close_connection

SOCKET_TIMEOUT_SECONDS = 2.0  # longest one Redis command (or connect) may take before it fails
PROBE_TIMEOUT_SECONDS = 0.4  # the readiness probe's own, well under its one-second answer
PROBE_CONNECTIONS = 4  # probes come a few a second at most; more at once are "not ready"


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.extensions["aqta.database"] = bind_database(settings.database_url, settings.db_pool_size)
    app.extensions["aqta.redis"] = _redis_client(settings.redis_url, settings.redis_max_connections)
    app.extensions["aqta.redis_probe"] = _probe_client(settings.redis_url)
    app.teardown_appcontext(lambda _exc: close_connection())


def _redis_client(url: str | None, max_connections: int):
    if url is None:
        return None
    # Connections are made on first use, not here. One quick retry, no backoff, and only
    # for a refused or reset connection: when Redis is down a request should learn it in
    # milliseconds. A timeout is never retried: a stalled Redis would cost each retry (and
    # the reconnect before it) another SOCKET_TIMEOUT_SECONDS.
    # The pool blocks (briefly) rather than failing when every connection is in use: a
    # gevent worker runs up to --worker-connections requests at once.
    options = {}
    if url.startswith("redis://"):
        options["connection_class"] = QuickCheckConnection
    # driver_info=None: no CLIENT SETINFO round trips (and no package-metadata lookup) per new
    # connection; a burst of a thousand streams opens hundreds of connections at once.
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=5, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, health_check_interval=30,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        driver_info=None, **options)
    return FailFastRedis(connection_pool=pool)


def _probe_client(url: str | None):
    """A client of its own for ``/readyz``: a short timeout and no retry, so the probe answers
    within a second even when Redis has stalled (and never waits behind the app's pool)."""
    if url is None:
        return None
    return redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_SECONDS,
                                socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
                                retry=Retry(NoBackoff(), 0), max_connections=PROBE_CONNECTIONS,
                                driver_info=None)


def redis_client():
    """The shared Redis client, or None in embedded mode."""
    return current_app.extensions["aqta.redis"]


def redis_probe():
    """The readiness probe's Redis client, or None in embedded mode."""
    return current_app.extensions["aqta.redis_probe"]
