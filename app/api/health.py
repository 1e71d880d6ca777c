"""Healthcare receipts (healthcare tier) and the public transparency log they are proven by."""
from __future__ import annotations

import base64
from datetime import datetime

from flask import Response, current_app, send_file
from flask_smorest import Blueprint

import storage.transparency_log as log_repo
from app.api.health_schemas import (
    BundleSchema,
    ConsistencyQuerySchema,
    ConsistencySchema,
    ExportQuerySchema,
    HealthSettingsSchema,
    LogKeysSchema,
    ReceiptPageSchema,
    ReceiptsQuerySchema,
    ReviewBodySchema,
    ReviewSchema,
    VerifyBodySchema,
    VerifyResultSchema,
)
from app.api.jobs import JobSchema
from app.api.schemas import AUTHENTICATED, RETRY_AFTER, ErrorSchema
from app.errors import InvalidRequest, NotFound
from app.healthcare import exports, service
from app.healthcare.risk import oversight
from app.healthcare.transparency import transparency_log
from app.identity.authentication import current_principal, login_required

blp = Blueprint("health", __name__, url_prefix="/api/health",
                description="Receipts for every AI answer (healthcare tier), provable offline")


def healthcare_account() -> str:
    principal = current_principal()
    service.require_healthcare(principal.user_id, principal.key.tier if principal.key else None)
    return principal.user_id


@blp.route("/receipts")
@blp.arguments(ReceiptsQuerySchema, location="query", as_kwargs=True)
@blp.response(200, ReceiptPageSchema)
@blp.alt_response(403, description="insufficient_tier: receipts need the healthcare tier")
@blp.doc(security=AUTHENTICATED)
@login_required
def list_receipts(limit: int, cursor: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, key: str | None = None, model: str | None = None):
    """The account's receipts, newest first, a page at a time (keyset on created_at, id)."""
    page = service.receipt_page(healthcare_account(), cursor, limit, since=since, until=until,
                                key_id=key, model=model)
    return {"data": page.data, "next_cursor": page.next_cursor}


@blp.route("/receipts/export")
@blp.arguments(ExportQuerySchema, location="query", as_kwargs=True)
@blp.response(202, JobSchema, headers={"Location": {"description": "The job, to poll",
                                                      "schema": {"type": "string"}}})
@blp.alt_response(403, description="insufficient_tier: receipts need the healthcare tier")
@blp.alt_response(503, schema=ErrorSchema, headers=RETRY_AFTER,
                  description="job_queue_unavailable: the job queue (Redis) is down; nothing was queued")
@blp.doc(security=AUTHENTICATED)
@login_required
def export_receipts(format: str, since: datetime | None = None, until: datetime | None = None):
    """Export the account's receipts (JSONL or CSV) as a job; each JSONL line verifies alone.

    Poll /api/jobs/{id}; when it has succeeded, result.links.download serves the file.
    """
    job = exports.start_export(healthcare_account(), format, since, until)
    return job, {"Location": f"/api/jobs/{job.id}"}


@blp.route("/receipts/export/<string:job_id>/download")
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream")
@blp.alt_response(404, description="No finished export of yours with this job id")
@blp.doc(security=AUTHENTICATED)
@login_required
def download_export(job_id: str):
    """The finished export file (never a partial one)."""
    export = exports.finished_export(healthcare_account(), job_id,
                                     current_app.config["AQTA_SETTINGS"].export_dir)
    return send_file(export.path, mimetype=export.mimetype, as_attachment=True,
                     download_name=export.download_name)


@blp.route("/receipts/<string:receipt_id>")
@blp.response(200, BundleSchema)
@blp.alt_response(403, description="insufficient_tier: receipts need the healthcare tier")
@blp.alt_response(404, description="receipt_not_found")
@blp.doc(security=AUTHENTICATED)
@login_required
def get_receipt(receipt_id: str):
    """The receipt, its leaf index, its inclusion proof and the signed checkpoint it is proven
    against; ``"status": "pending"`` (no proof) for the second or so before it is sequenced."""
    user_id = healthcare_account()
    bundle = service.get_bundle(user_id, receipt_id)
    return {**bundle, "oversight": oversight.oversight_of(user_id, receipt_id)}


@blp.route("/receipts/<string:receipt_id>/verify", methods=["POST"])
@blp.arguments(VerifyBodySchema, required=False)
@blp.response(200, VerifyResultSchema)
@blp.alt_response(403, description="insufficient_tier: receipts need the healthcare tier")
@blp.alt_response(404, description="receipt_not_found")
@blp.doc(security=AUTHENTICATED)
@login_required
def verify_receipt(body: dict, receipt_id: str):
    """Recompute the leaf hash, check the inclusion proof and the checkpoint's signature, and,
    given the original request and answer, check them against the receipt's commitments."""
    user_id = healthcare_account()
    return service.verify(user_id, receipt_id, body.get("request"), body.get("answer"))


@blp.route("/receipts/<string:receipt_id>/review", methods=["POST"])
@blp.arguments(ReviewBodySchema)
@blp.response(201, ReviewSchema)
@blp.alt_response(400, description="invalid_request: a missing reviewer, an unknown outcome")
@blp.alt_response(403, description="insufficient_tier: receipts need the healthcare tier")
@blp.alt_response(404, description="receipt_not_found")
@blp.doc(security=AUTHENTICATED)
@login_required
def review_receipt(body: dict, receipt_id: str):
    """A clinician's review of the answer (approved, amended or rejected), appended to the log as
    an amendment of the receipt. The note is kept only as an HMAC commitment. A review within
    REVIEW_WINDOW_SECONDS of a high-risk answer prevents its human-oversight violation."""
    leaf = oversight.review(healthcare_account(), receipt_id, body["reviewer"], body["outcome"],
                            body.get("note"))
    return {"amendment": leaf}


@blp.route("/settings")
@blp.response(200, HealthSettingsSchema)
@blp.alt_response(403, description="insufficient_tier: the healthcare tier only")
@blp.doc(security=AUTHENTICATED)
@login_required
def get_settings():
    """The account's healthcare settings: the models approved for high-risk decisions."""
    return {"high_risk_models": oversight.approved_models(healthcare_account())}


@blp.route("/settings", methods=["PUT"])
@blp.arguments(HealthSettingsSchema)
@blp.response(200, HealthSettingsSchema)
@blp.alt_response(403, description="insufficient_tier: the healthcare tier only")
@blp.doc(security=AUTHENTICATED)
@login_required
def put_settings(body: dict):
    """Set the models approved for high-risk decisions: a high-risk answer by any other model
    raises a compliance.violation (eu_ai_act, art_26_use_as_instructed). Empty: all approved."""
    return {"high_risk_models": oversight.set_approved_models(healthcare_account(),
                                                              body["high_risk_models"])}


@blp.route("/log/keys")
@blp.response(200, LogKeysSchema)
def log_keys():
    """The log's public keys (C2SP verifier keys): the active one and every one that signed before."""
    tlog = transparency_log()
    active = tlog.signer().verifier
    return {"origin": tlog.origin,
            "keys": [{"vkey": str(v), "key_id": f"{v.key_id:08x}", "active": v == active}
                     for v in tlog.verifiers()]}


@blp.route("/log/checkpoint")
@blp.response(200, {"type": "string"}, content_type="text/plain")
@blp.alt_response(404, description="log_empty: nothing signed yet")
def latest_checkpoint():
    """The latest signed checkpoint, a C2SP signed note (origin, tree size, base64 root)."""
    checkpoint = log_repo.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("The log has no checkpoint yet.")
    return Response(checkpoint.note, mimetype="text/plain")


@blp.route("/log/consistency")
@blp.arguments(ConsistencyQuerySchema, location="query", as_kwargs=True)
@blp.response(200, ConsistencySchema)
@blp.alt_response(400, description="invalid_request: sizes out of order or beyond the log")
def consistency(old: int, new: int):
    """An RFC 9162 consistency proof that the tree of size ``from`` is a prefix of size ``to``."""
    checkpoint = log_repo.latest_checkpoint()
    if old > new or checkpoint is None or new > checkpoint.size:
        raise InvalidRequest(f"Need 1 <= from <= to <= {checkpoint.size if checkpoint else 0} "
                             "(the latest checkpoint's size).", field="to")
    proof = transparency_log().consistency(old, new)
    return {"old": old, "new": new, "proof": [base64.b64encode(h).decode() for h in proof]}
