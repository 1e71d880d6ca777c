"""Counting every HTTP answer by route and status, and keeping the metrics listener to its paths."""
from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import NotFound

from app.metrics.exposition import METRICS_LISTENER_PATHS, on_metrics_listener
from app.metrics.series import count_http


def init_app(app: Flask) -> None:
    port = app.config["AQTA_SETTINGS"].metrics_port

    @app.before_request
    def keep_the_metrics_listener_to_metrics():
        if port is not None and request.path not in METRICS_LISTENER_PATHS \
                and on_metrics_listener(request, port):
            raise NotFound("The metrics listener serves /metrics, /healthz and /readyz only.")

    @app.after_request
    def count_response(response):
        rule = request.url_rule
        count_http(request.method, rule.rule if rule is not None else None, response.status_code)
        return response
