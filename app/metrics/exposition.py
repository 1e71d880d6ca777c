"""``GET /metrics``: who may scrape, and the page in Prometheus' text format.

Access, in order: a request that arrived on the metrics listener (``METRICS_PORT``,
bound by ``aqta serve``) is served as it is; on the API's port a request must carry
``Authorization: Bearer $METRICS_TOKEN``. With neither configured the page is off
(403): request counts and costs are nobody's business by default.
"""
from __future__ import annotations

import hmac
from collections.abc import Iterator

from flask import Flask, Request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.errors import AqtaError, Forbidden
from app.metrics.backlog import BacklogCollector

CHALLENGE = 'Bearer realm="aqta-metrics"'
# Paths the metrics listener serves; anything else there is 404, so it never exposes the API.
METRICS_LISTENER_PATHS = ("/metrics", "/healthz", "/readyz")


class MetricsUnauthorised(AqtaError):
    status = 401
    code = "invalid_metrics_token"

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": CHALLENGE})


class _ThisProcess(Collector):
    """The process-wide registry's series (one process: the test client, ``flask run``)."""

    def collect(self) -> Iterator:
        return REGISTRY.collect()


def arrival_port(environ: dict) -> int | None:
    """The local port the connection came in on (gunicorn's socket; never the Host header)."""
    sock = environ.get("gunicorn.socket")
    try:
        return sock.getsockname()[1] if sock is not None else None
    except (OSError, IndexError, TypeError):  # a closed or unix socket
        return None


def on_metrics_listener(request: Request, metrics_port: int | None) -> bool:
    return metrics_port is not None and arrival_port(request.environ) == metrics_port


def authorise(request: Request, token: str | None, metrics_port: int | None) -> None:
    """Let the scrape through, or raise 401 (no or wrong token) or 403 (off on this port)."""
    if on_metrics_listener(request, metrics_port):
        return
    if token is None:
        where = (f"it is served on port {metrics_port} only" if metrics_port
                 else "set METRICS_TOKEN (a bearer token) or METRICS_PORT (a listener of its own)")
        raise Forbidden(f"GET /metrics is not open here: {where}.", code="metrics_disabled")
    credentials = request.authorization
    sent = credentials.token if credentials is not None and credentials.type == "bearer" else None
    if not sent:
        raise MetricsUnauthorised("GET /metrics needs 'Authorization: Bearer <METRICS_TOKEN>'.")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise MetricsUnauthorised("The metrics token is not valid.")


def render(app: Flask) -> bytes:
    """Every series, summed over the gunicorn workers in multi-process mode, in text format."""
    registry = CollectorRegistry(auto_describe=False)
    folder = app.config["AQTA_SETTINGS"].metrics_multiprocess_dir
    if folder:
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_ThisProcess())
    registry.register(BacklogCollector(app))
    return generate_latest(registry)
