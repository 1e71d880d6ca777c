"""Receipts (healthcare tier): the list with filters and paging, one receipt with its proof
and a verify button, and exports with their download.

Every page calls the services the JSON API's /api/health routes call; an account on
another tier sees what receipts are and how to get them, not an error.
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import wraps

from flask import current_app, redirect, request, send_file, url_for
from flask_login import current_user

from app.api.health_schemas import (
    ExportQuerySchema,
    ReceiptsQuerySchema,
    ReviewBodySchema,
    VerifyBodySchema,
)
from app.dashboard.blueprint import SAFE_METHODS, bp, me, page, paging_args, signed_in
from app.dashboard.forms import load
from app.dashboard.usage_counts import key_names
from app.errors import EXPECTED_ERRORS, InsufficientTier, InvalidRequest, api_error
from app.healthcare import exports, service
from app.healthcare.leaves import parse_timestamp
from app.healthcare.receipts import HEALTHCARE_TIER
from app.healthcare.risk import oversight
from app.identity.api_keys import live_keys


@bp.context_processor
def receipts_in_the_menu() -> dict:
    """The menu lists Receipts for healthcare accounts only; receipts' times are RFC 3339 text."""
    return {"shows_receipts": current_user.is_authenticated
            and current_user.record.tier == HEALTHCARE_TIER, "receipt_time": receipt_time}


def receipt_time(text: object) -> datetime | None:
    """A receipt's RFC 3339 time, or None when a damaged row has none."""
    try:
        return parse_timestamp(text)
    except (TypeError, ValueError):
        return None


def healthcare_only(view):
    """Run the view for a healthcare account; explain the tier to any other."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        user = me()
        try:
            service.require_healthcare(user.id, user.tier)
        except InsufficientTier as refusal:
            status = 200 if request.method in SAFE_METHODS else refusal.status
            return page("receipts_tier.html", status, title="Receipts", note=refusal.message)
        return view(*args, **kwargs)

    return wrapped


@bp.route("/dashboard/receipts")
@signed_in
@healthcare_only
def receipts():
    return _list_page()


def _list_page(status: int = 200, **context):
    user_id = me().id
    error, result = None, None
    try:
        query = load(ReceiptsQuerySchema(), request.args)
        result = service.receipt_page(user_id, query.get("cursor"), query["limit"],
                                      since=query.get("since"), until=query.get("until"),
                                      key_id=query.get("key"), model=query.get("model"))
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        error, status = exc.message, exc.status
    return page("receipts.html", status, title="Receipts", result=result, args=request.args,
                next_args=paging_args(), key_names=key_names(live_keys(user_id)),
                formats=exports.FORMATS, form=request.form, error=error, **context)


@bp.route("/dashboard/receipts/export", methods=["POST"])
@signed_in
@healthcare_only
def export_receipts():
    try:
        query = load(ExportQuerySchema(), request.form)
        job = exports.start_export(me().id, query["format"], query.get("since"), query.get("until"))
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        return _list_page(exc.status, export_error=exc.message)
    return redirect(url_for("dashboard.receipt_export", job_id=job.id))


@bp.route("/dashboard/receipts/exports/<job_id>")
@signed_in
@healthcare_only
def receipt_export(job_id: str):
    job = exports.export_job(me().id, job_id)
    return page("receipt_export.html", title="Receipt export", job=job)


@bp.route("/dashboard/receipts/exports/<job_id>/download")
@signed_in
@healthcare_only
def download_export(job_id: str):
    export = exports.finished_export(me().id, job_id, current_app.config["AQTA_SETTINGS"].export_dir)
    return send_file(export.path, mimetype=export.mimetype, as_attachment=True,
                     download_name=export.download_name)


def _receipt_page(receipt_id: str, status: int = 200, **context):
    bundle = service.get_bundle(me().id, receipt_id)
    return page("receipt.html", status, title=f"Receipt {receipt_id}", bundle=bundle,
                receipt=bundle["receipt"], key_names=key_names(live_keys(me().id)),
                oversight=oversight.oversight_of(me().id, receipt_id), outcomes=oversight.OUTCOMES,
                **context)


@bp.route("/dashboard/receipts/<receipt_id>")
@signed_in
@healthcare_only
def receipt(receipt_id: str):
    return _receipt_page(receipt_id)


def _json_object(field: str) -> dict | None:
    """An optional JSON object pasted into the verify form."""
    text = request.form.get(field, "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidRequest(f"The {field} is not valid JSON; paste it exactly as it was sent "
                             "or received.", field=field) from None


@bp.route("/dashboard/receipts/<receipt_id>/review", methods=["POST"])
@signed_in
@healthcare_only
def review_receipt(receipt_id: str):
    fields = {name: value for name in ("reviewer", "outcome", "note")
              if (value := request.form.get(name, "").strip())}
    try:
        body = load(ReviewBodySchema(), {}, data=fields)
        oversight.review(me().id, receipt_id, body["reviewer"], body["outcome"], body.get("note"))
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        return _receipt_page(receipt_id, exc.status, error=exc.message)
    return redirect(url_for("dashboard.receipt", receipt_id=receipt_id) + "#review")


@bp.route("/dashboard/receipts/<receipt_id>/verify", methods=["POST"])
@signed_in
@healthcare_only
def verify_receipt(receipt_id: str):
    # Pasted bodies are checked against the commitments and never kept or shown again.
    try:
        body = load(VerifyBodySchema(), {}, data={name: value for name in ("request", "answer")
                                                  if (value := _json_object(name)) is not None})
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        return _receipt_page(receipt_id, exc.status, error=exc.message)
    result = service.verify(me().id, receipt_id, body.get("request"), body.get("answer"))
    return _receipt_page(receipt_id, verification=result)
