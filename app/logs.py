"""Logging: text or one JSON object per line (``LOG_FORMAT``), and one access line per request.

JSON lines come from python-json-logger. Every line logged while a request is
served carries its ``request_id`` (and ``key_id`` when a key authenticated it);
the access line adds ``method``, ``route`` (Flask's URL rule, never the raw path
with its query string), ``status`` and ``latency_ms``, logged when the response
closes, so a stream's line has its whole duration. Nothing here logs a header,
a body or a query string: no key, secret, password or request text.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.orjson import OrjsonFormatter

if TYPE_CHECKING:  # gunicorn's master imports this module (app.serving): keep it light
    from app.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Their DEBUG lines carry SQL parameters (password hashes, sealed secrets, webhook URLs) and
# request URLs with their query strings: never logged, even at LOG_LEVEL=DEBUG.
QUIET_BELOW_INFO = ("peewee", "urllib3")
ACCESS = logging.getLogger("aqta.access")


def json_formatter() -> OrjsonFormatter:
    """A record as one JSON object: time (ISO 8601, UTC), level, logger, message, and extras
    (python-json-logger's formatter on orjson, which the gateway uses anyway: half the time)."""
    return OrjsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


def formatter(log_format: str) -> logging.Formatter:
    return json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


class RequestContext(logging.Filter):
    """Stamps each record logged during a request with the request's id and key id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "request_id"):
            record.request_id = g.get("request_id")
            key_id = g.get("key_id")
            if key_id:
                record.key_id = key_id
        return True


def configure(settings: Settings) -> None:
    """One handler on the root logger (stderr), unless the host (gunicorn, pytest) set one."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(RequestContext())
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    if settings.log_format == "json":
        logging.captureWarnings(True)  # a library's warning becomes a JSON line too
    for name in QUIET_BELOW_INFO:
        logging.getLogger(name).setLevel(logging.INFO)


def init_app(app: Flask) -> None:
    """Log one access line per request, when its response closes."""

    @app.before_request
    def start_clock():
        g.started_at = time.monotonic()

    @app.after_request
    def log_access(response):
        if not ACCESS.isEnabledFor(logging.INFO):  # LOG_LEVEL=WARNING and above: no cost at all
            return response
        started = g.get("started_at", time.monotonic())
        rule = request.url_rule
        fields = {"request_id": g.get("request_id"), "method": request.method,
                  "route": rule.rule if rule is not None else "unmatched",
                  "status": response.status_code}
        if g.get("key_id"):
            fields["key_id"] = g.key_id

        def closed():
            fields["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
            ACCESS.info("%s %s %s %.1f ms %s", fields["method"], fields["route"], fields["status"],
                        fields["latency_ms"], fields["request_id"], extra=fields)

        response.call_on_close(closed)
        return response
