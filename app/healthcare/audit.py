"""The audit trail: who did what to which of an account's things, as leaves of the transparency log.

An audit event is shaped like a FHIR R5 AuditEvent (``app.healthcare.fhir`` turns it into
one): its type (``key.created``…) and action code (C/R/U/D/E), when it was recorded (UTC),
its outcome, the agent (a user, an API key, the operator at the command line, or the
system), the source (this deployment and host) and the entity acted on (a key, webhook
endpoint, budget, receipt, export, report…). It is appended to the same log as receipts,
with its index row in the same transaction, so the offline verifier proves it unaltered.

Every account's actions are recorded, whatever its tier: an account signs up on the free
tier and moves to healthcare later, and its trail should begin at the beginning. Only a
healthcare account can read its trail (``GET /api/compliance/audit-trail``).

What an event may hold: ids, codes, counts and names of fields. Never a key, password or
webhook secret, never request or answer text: ``detail`` accepts short strings only, and
callers pass ids, not content.
"""
from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app, g, has_request_context, request

import storage.audit as audit_repo
from app.healthcare.append import append
from app.healthcare.leaves import AUDIT_EVENT, LEAF_VERSION, LeafError, timestamp
from storage.audit import AuditIndex
from storage.ids import new_id, utcnow

EVENT_ID_PREFIX = "aud"
CREATE, READ, UPDATE, DELETE, EXECUTE = "C", "R", "U", "D", "E"  # FHIR AuditEvent.action
ACTION_CODES = (CREATE, READ, UPDATE, DELETE, EXECUTE)
SUCCESS, FAILURE = "success", "failure"
OUTCOMES = (SUCCESS, FAILURE)
USER, KEY, OPERATOR, SYSTEM = "user", "key", "operator", "system"  # who acted
MAX_DETAIL_CHARS = 100  # a detail string is an id, a code or a field name, never prose
MAX_USER_AGENT_CHARS = 200

# The recorded actions: type -> action code. Other features add theirs through record().
ACCOUNT_CREATED = "account.created"
ACCOUNT_TIER_CHANGED = "account.tier_changed"  # by an operator
LOGIN = "auth.login"  # outcome success or failure
LOGOUT = "auth.logout"
OAUTH_SIGNIN = "auth.oauth_signin"
KEY_CREATED, KEY_REVOKED, KEY_LIMITS_CHANGED = "key.created", "key.revoked", "key.limits_changed"
BUDGET_CHANGED = "budget.changed"
ENDPOINT_CREATED, ENDPOINT_UPDATED, ENDPOINT_DELETED = (
    "webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.deleted")
ENDPOINT_SECRET_ROTATED = "webhook_endpoint.secret_rotated"
RECEIPTS_LISTED, RECEIPT_READ, RECEIPT_VERIFIED = "receipt.listed", "receipt.read", "receipt.verified"
EXPORT_REQUESTED, EXPORT_DOWNLOADED = "export.requested", "export.downloaded"
# asked for (by its requester); written (by the worker, with the file's SHA-256); its file read
REPORT_REQUESTED, REPORT_GENERATED, REPORT_DOWNLOADED = (
    "report.requested", "report.generated", "report.downloaded")
LOG_EXPIRED = "log.content_expired"
RECEIPT_REVIEWED = "receipt.reviewed"  # a clinician's review (its amendment leaf is referenced)
HEALTHCARE_SETTINGS_CHANGED = "healthcare_settings.changed"  # the models approved for high-risk use

# Entities acted on (FHIR AuditEvent.entity.what).
ACCOUNT, API_KEY, BUDGET, WEBHOOK_ENDPOINT = "account", "key", "budget", "webhook_endpoint"
RECEIPT, EXPORT, REPORT, LOG = "receipt", "export", "report", "log"
ALL_OF_THEM = "*"  # entity id of an action on every entity of its type (listing receipts)


@dataclass(frozen=True)
class Actor:
    kind: str  # user, key, operator or system
    id: str  # usr_…, key_…, operator:<login> or the system's job name


def operator() -> Actor:
    """The person running this process at the command line (``aqta create-key``…)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        login = "unknown"
    return Actor(OPERATOR, f"operator:{login}")


def request_actor(account_id: str) -> Actor:
    """Who acts in this web request: the API key when one authenticated it, else the account's
    signed-in user (``g.principal`` is what ``app.identity.authentication`` resolved)."""
    key = getattr(g.get("principal"), "key", None)
    return Actor(KEY, key.id) if key is not None else Actor(USER, account_id)


def _source(actor: Actor) -> dict:
    kind = "web" if has_request_context() else ("worker" if actor.kind == SYSTEM else "cli")
    return {"site": current_app.config["AQTA_SETTINGS"].log_origin, "observer": socket.gethostname(),
            "type": kind}


def _agent(actor: Actor) -> dict:
    agent = {"type": actor.kind, "id": actor.id}
    if has_request_context():
        agent["network"] = request.remote_addr or ""
        agent["user_agent"] = (request.user_agent.string or "")[:MAX_USER_AGENT_CHARS]
    return agent


def _checked_detail(detail: Mapping[str, object] | None) -> dict:
    checked = {}
    for name, value in (detail or {}).items():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, str) and len(item) > MAX_DETAIL_CHARS:
                raise LeafError(f"audit detail {name!r}: at most {MAX_DETAIL_CHARS} characters "
                                "(ids and codes, never text)")
            if not (item is None or isinstance(item, bool | int | str)):
                raise LeafError(f"audit detail {name!r}: strings, integers, booleans or lists of them")
        checked[name] = list(value) if isinstance(value, list | tuple) else value
    return checked


def record(action_type: str, action_code: str, *, account_id: str, entity_type: str, entity_id: str,
           actor: Actor | None = None, outcome: str = SUCCESS,
           detail: Mapping[str, object] | None = None) -> str:
    """Append one audit event for ``account_id`` and index it; its id (``aud_…``).

    ``actor`` defaults to the caller of this web request (``request_actor``) or, outside a
    request, the operator at the command line; workers pass ``Actor(SYSTEM, name)``.
    ``detail`` holds ids, codes, counts and field names only (strings of at most 100
    characters): never a secret and never text from a request or an answer.
    """
    if action_code not in ACTION_CODES:
        raise LeafError(f"action code {action_code!r} is not one of {ACTION_CODES}")
    if outcome not in OUTCOMES:
        raise LeafError(f"outcome {outcome!r} is not one of {OUTCOMES}")
    if actor is None:
        actor = request_actor(account_id) if has_request_context() else operator()
    recorded = utcnow()
    event_id = new_id(EVENT_ID_PREFIX)
    leaf = {"leaf_type": AUDIT_EVENT, "v": LEAF_VERSION, "id": event_id, "account_id": account_id,
            "type": action_type, "action": action_code, "recorded": timestamp(recorded),
            "outcome": outcome, "agent": _agent(actor), "source": _source(actor),
            "entity": {"type": entity_type, "id": entity_id}, "detail": _checked_detail(detail)}
    row = AuditIndex(event_id, account_id, recorded, action_type, actor.id, entity_type, entity_id)
    append(leaf, also=lambda: audit_repo.add(row))
    return event_id

