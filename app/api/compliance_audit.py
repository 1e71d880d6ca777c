"""The audit trail (healthcare tier): who did what in the account, each event provable offline."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Response, request
from flask_smorest import Blueprint

from app.api.compliance_audit_schemas import AuditTrailPageSchema, AuditTrailQuerySchema
from app.api.health import healthcare_account
from app.api.schemas import AUTHENTICATED
from app.healthcare import fhir
from app.healthcare.audit_trail import audit_page
from app.identity.authentication import login_required
from storage.audit import AuditFilter

blp = Blueprint("compliance_audit", __name__, url_prefix="/api/compliance",
                description="The audit trail of the account (healthcare tier), as JSON or FHIR R5")
FHIR_JSON = "application/fhir+json"


def _fhir_page(bundles: list[dict], next_cursor: str | None) -> Response:
    query = request.args.to_dict()
    next_url = None
    if next_cursor:
        next_url = f"{request.base_url}?{urlencode({**query, 'cursor': next_cursor})}"
    body = fhir.searchset(bundles, request.url, next_url)
    return Response(json.dumps(body, ensure_ascii=False), mimetype=FHIR_JSON)


@blp.route("/audit-trail")
@blp.arguments(AuditTrailQuerySchema, location="query", as_kwargs=True)
@blp.response(200, AuditTrailPageSchema)
@blp.alt_response(200, success=True, content_type=FHIR_JSON,
                  description="?format=fhir: a FHIR R5 Bundle (type searchset) of AuditEvent resources")
@blp.alt_response(400, description="invalid_request: a bad filter or cursor")
@blp.alt_response(403, description="insufficient_tier: the audit trail needs the healthcare tier")
@blp.doc(security=AUTHENTICATED)
@login_required
def audit_trail(format: str, limit: int, cursor: str | None = None, since=None, until=None,
                action: str | None = None, actor: str | None = None, entity_type: str | None = None,
                entity_id: str | None = None):
    """The account's audit events, newest first, a page at a time (keyset on recorded, id).

    Every security-relevant action is here: sign-ups, log-ins (and failed ones), log-outs, key,
    budget and webhook changes, receipts read and verified, exports, operator commands. Each
    event is a transparency-log leaf with its inclusion proof (or pending for the second before
    it is sequenced), checkable offline with ``aqta receipts verify``.
    """
    where = AuditFilter(since=since, until=until, action_type=action, actor_id=actor,
                        entity_type=entity_type, entity_id=entity_id)
    page = audit_page(healthcare_account(), where, cursor, limit)
    if format == "fhir":
        return _fhir_page(page.data, page.next_cursor)
    return {"data": page.data, "next_cursor": page.next_cursor}
