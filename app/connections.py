"""The app's connections to the outside: the database, and Redis when configured."""
from __future__ import annotations

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.redis_client import QuickCheckConnection
from storage.database import bind_database, close_connection


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.extensions["aqta.database"] = bind_database(settings.database_url, settings.db_pool_size)
    app.extensions["aqta.redis"] = _redis_client(settings.redis_url, settings.redis_max_connections)
    app.teardown_appcontext(lambda _exc: close_connection())


def _redis_client(url: str | None, max_connections: int):
    if url is None:
        return None
    # Connections are made on first use, not here. One quick retry, no backoff: when
    # Redis is down a request should learn it in milliseconds, not after seconds of retries.
    # The pool blocks (briefly) rather than failing when every connection is in use: a
    # gevent worker runs up to --worker-connections requests at once.
    options = {}
    if url.startswith("redis://"):
        options["connection_class"] = QuickCheckConnection
    # driver_info=None: no CLIENT SETINFO round trips (and no package-metadata lookup) per new
    # connection; a burst of a thousand streams opens hundreds of connections at once.
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=5, socket_timeout=2,
        socket_connect_timeout=2, health_check_interval=30, retry=Retry(NoBackoff(), 1),
        driver_info=None, **options)
    return redis.Redis(connection_pool=pool)


def redis_client():
    """The shared Redis client, or None in embedded mode."""
    return current_app.extensions["aqta.redis"]
