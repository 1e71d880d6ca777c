"""Liveness and readiness probes."""
from __future__ import annotations

import logging

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.connections import redis_probe
from app.errors import ServiceUnavailable
from storage.database import ping

log = logging.getLogger(__name__)
blp = Blueprint("ops", __name__, description="Health probes for load balancers and orchestrators")


class StatusSchema(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())


@blp.route("/healthz")
@blp.response(200, StatusSchema)
def healthz():
    """The process is up."""
    return {"status": "ok", "checks": {}}


@blp.route("/readyz")
@blp.response(200, StatusSchema)
@blp.alt_response(503, schema=StatusSchema, description="A dependency is unreachable")
def readyz():
    """The database answers, and Redis too when it is configured (within 0.4 s: a stalled
    Redis is "unreachable", and the probe still answers within a second)."""
    checks = {}
    try:
        ping()
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready"
        log.warning("readiness: database unreachable: %s", exc)
        checks["database"] = "unreachable"
    client = redis_probe()
    if client is not None:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readiness: redis unreachable: %s", exc)
            checks["redis"] = "unreachable"
    if any(state != "ok" for state in checks.values()):
        down = ", ".join(name for name, state in checks.items() if state != "ok")
        raise ServiceUnavailable(f"Not ready: {down} unreachable.", code="not_ready")
    return {"status": "ok", "checks": checks}
