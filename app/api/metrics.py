"""``GET /metrics``: Prometheus' text format (``app.metrics`` counts and renders)."""
from __future__ import annotations

from flask import Response, current_app, request
from flask_smorest import Blueprint
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from app.metrics.exposition import authorise, render

blp = Blueprint("metrics", __name__, description="Prometheus metrics for operators")


@blp.route("/metrics")
# The token, or none at all on the metrics listener (METRICS_PORT).
@blp.doc(security=[{"metricsToken": []}, {}])
@blp.response(200, {"type": "string"}, content_type="text/plain")
@blp.alt_response(401, description="invalid_metrics_token: no or a wrong METRICS_TOKEN")
@blp.alt_response(403, description="metrics_disabled: neither METRICS_TOKEN nor METRICS_PORT is "
                                   "set, or only the metrics port serves it")
def metrics():
    """Every series in Prometheus' text format; the README lists them."""
    settings = current_app.config["AQTA_SETTINGS"]
    authorise(request, settings.metrics_token, settings.metrics_port)
    return Response(render(current_app._get_current_object()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
