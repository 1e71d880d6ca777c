"""Bias detection (healthcare tier): probing runs, monitoring windows and their findings."""
from __future__ import annotations

from flask_smorest import Blueprint

import storage.keys as keys_repo
from app.api.compliance_bias_schemas import (
    BiasOverviewQuerySchema,
    BiasOverviewSchema,
    BiasRunSchema,
    ProbeRunBodySchema,
)
from app.api.jobs import JobSchema
from app.api.schemas import AUTHENTICATED, RETRY_AFTER, ErrorSchema
from app.compliance.bias import service
from app.errors import InvalidRequest
from app.identity.authentication import current_principal, login_required

blp = Blueprint("compliance_bias", __name__, url_prefix="/api/compliance",
                description="Bias detection (healthcare tier): counterfactual probing and "
                            "monitoring of decisions by demographic group")


def healthcare_account() -> str:
    principal = current_principal()
    service.require_healthcare(principal.user_id, principal.key.tier if principal.key else None)
    return principal.user_id


@blp.route("/bias-detection/runs", methods=["POST"])
@blp.arguments(ProbeRunBodySchema)
@blp.response(202, JobSchema, headers={"Location": {"description": "The job, to poll",
                                                      "schema": {"type": "string"}}})
@blp.alt_response(400, description="invalid_request: an attribute, template or key is wrong")
@blp.alt_response(403, description="insufficient_tier or model_not_allowed")
@blp.alt_response(503, schema=ErrorSchema, headers=RETRY_AFTER,
                  description="job_queue_unavailable: nothing was queued")
@blp.doc(security=AUTHENTICATED)
@login_required
def start_run(body: dict):
    """Probe a model with matched vignettes that differ only in one attribute, as a job.

    The probes go through the gateway like any request of the key (billed, logged, with
    receipts). When the job has succeeded, ``result.links.run`` has the run's findings.
    """
    principal = current_principal()
    key = principal.key
    if body["key_id"] is not None:
        key = keys_repo.get_for_user(principal.user_id, body["key_id"])
    if key is None:
        raise InvalidRequest("Signed in with a session: name the key the probes are billed to "
                             "(key_id).", field="key_id")
    _, job = service.start_probing(key, body["model"], attributes=body["attributes"],
                                   pairs=body["pairs"], templates=body["templates"],
                                   domains=body["domains"], seed=body["seed"],
                                   material=body["material_flip_rate"])
    return job, {"Location": f"/api/jobs/{job.id}"}


@blp.route("/bias-detection")
@blp.arguments(BiasOverviewQuerySchema, location="query", as_kwargs=True)
@blp.response(200, BiasOverviewSchema)
@blp.alt_response(403, description="insufficient_tier: bias detection needs the healthcare tier")
@blp.doc(security=AUTHENTICATED)
@login_required
def overview(limit: int):
    """The latest probing run's and monitoring window's findings, and the history of both."""
    return service.overview(healthcare_account(), limit)


@blp.route("/bias-detection/runs/<string:run_id>")
@blp.response(200, BiasRunSchema)
@blp.alt_response(403, description="insufficient_tier: bias detection needs the healthcare tier")
@blp.alt_response(404, description="bias_run_not_found")
@blp.doc(security=AUTHENTICATED)
@login_required
def get_run(run_id: str):
    """One probing run or monitoring window with its findings."""
    return service.get_run(healthcare_account(), run_id)
