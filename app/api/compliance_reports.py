"""Compliance reports (healthcare tier): the period's evidence as JSON, HTML or PDF, made by a job."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, send_file
from flask_smorest import Blueprint

from app.api.analytics import caller_tier
from app.api.compliance_report_schemas import ReportBodySchema
from app.api.jobs import JobSchema
from app.api.schemas import AUTHENTICATED, RETRY_AFTER, ErrorSchema
from app.compliance.reports import jobs as reports
from app.identity.authentication import current_principal, login_required

blp = Blueprint("compliance_reports", __name__, url_prefix="/api/compliance",
                description="Compliance reports for an auditor (healthcare tier)")


@blp.route("/report", methods=["POST"])
@blp.arguments(ReportBodySchema, as_kwargs=True)
@blp.response(202, JobSchema, headers={"Location": {"description": "The job, to poll",
                                                      "schema": {"type": "string"}}})
@blp.alt_response(400, description="invalid_request: a bad format or period")
@blp.alt_response(403, description="insufficient_tier: reports need the healthcare tier")
@blp.alt_response(503, schema=ErrorSchema, headers=RETRY_AFTER,
                  description="job_queue_unavailable: the job queue (Redis) is down; nothing was queued")
@blp.doc(security=AUTHENTICATED)
@login_required
def create_report(format: str, month: str | None = None, since: datetime | None = None,
                  until: datetime | None = None):
    """Generate a compliance report of a period (a month, or since/until in whole UTC days).

    It covers usage and cost, every receipt of the period verified against the log's
    latest checkpoint with the log's consistency, and loops blocked, each mapped to the
    HIPAA and EU AI Act provisions it evidences. Poll /api/jobs/{id}; when it has
    succeeded, result.links.download serves the report.
    """
    job = reports.start_report(current_principal().user_id, caller_tier(), format, month, since, until)
    return job, {"Location": f"/api/jobs/{job.id}"}


@blp.route("/report/<string:job_id>/download")
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream")
@blp.alt_response(404, description="No finished report of yours with this job id")
@blp.doc(security=AUTHENTICATED)
@login_required
def download_report(job_id: str):
    """The finished report (never a partial one)."""
    report = reports.finished_report(current_principal().user_id, job_id,
                                     current_app.config["AQTA_SETTINGS"].export_dir)
    return send_file(report.path, mimetype=report.mimetype, as_attachment=True,
                     download_name=report.download_name)
