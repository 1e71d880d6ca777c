"""Audit events as FHIR R5: an ``AuditEvent`` per event, a ``Bundle`` (searchset) per page.

Pure translation of the leaf (``app.healthcare.audit``); the leaf index, hash and proof
ride along in ``meta.tag`` and an extension so a FHIR consumer can still find the leaf
that proves the event.
"""
from __future__ import annotations

AUDIT_TYPE_SYSTEM = "https://aqta.ai/fhir/CodeSystem/audit-event-type"
ENTITY_TYPE_SYSTEM = "https://aqta.ai/fhir/CodeSystem/audit-entity-type"
AGENT_TYPE_SYSTEM = "https://aqta.ai/fhir/CodeSystem/audit-agent-type"
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
SOURCE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/security-source-type"
LEAF_EXTENSION = "https://aqta.ai/fhir/StructureDefinition/transparency-log-leaf"
# FHIR's outcome codes: 0 success, 4 minor failure (a refused log-in is not a system fault).
OUTCOME_CODES = {"success": ("0", "Success"), "failure": ("4", "Minor failure")}
# security-source-type: 3 web server, 4 application server (the CLI and the workers).
SOURCE_TYPES = {"web": ("3", "Web Server"), "cli": ("4", "Application Server"),
                "worker": ("4", "Application Server")}


def _fhir_id(event_id: str) -> str:
    """FHIR ids allow [A-Za-z0-9-.]{1,64}; ours are aud_ + base64url."""
    return event_id.replace("_", "-")


def audit_event(bundle: dict) -> dict:
    """The FHIR R5 AuditEvent of one leaf bundle (as the audit trail answers it)."""
    event = bundle["audit_event"]
    agent, source, entity = event["agent"], event["source"], event["entity"]
    outcome_code, outcome_label = OUTCOME_CODES[event["outcome"]]
    source_code, source_label = SOURCE_TYPES.get(source["type"], SOURCE_TYPES["cli"])
    fhir_agent = {"type": {"coding": [{"system": AGENT_TYPE_SYSTEM, "code": agent["type"]}]},
                  "who": {"identifier": {"system": AGENT_TYPE_SYSTEM, "value": agent["id"]}},
                  "requestor": agent["type"] != "system"}
    if agent.get("network"):
        fhir_agent["networkString"] = agent["network"]
    if agent.get("user_agent"):
        fhir_agent["extension"] = [{"url": "https://aqta.ai/fhir/StructureDefinition/user-agent",
                                    "valueString": agent["user_agent"]}]
    leaf = {"url": LEAF_EXTENSION, "extension": [
        {"url": "leafHash", "valueString": bundle["leaf_hash"] or ""},
        {"url": "status", "valueCode": bundle["status"]}]}
    if bundle["leaf_index"] is not None:
        leaf["extension"].append({"url": "leafIndex", "valueInteger64": bundle["leaf_index"]})
    details = [{"type": {"text": name}, "valueString": ",".join(map(str, value))
                if isinstance(value, list) else str(value)}
               for name, value in sorted(event.get("detail", {}).items())]
    fhir_entity = {"what": {"identifier": {"system": f"{ENTITY_TYPE_SYSTEM}/{entity['type']}",
                                           "value": entity["id"]}},
                   "role": {"coding": [{"system": ENTITY_TYPE_SYSTEM, "code": entity["type"]}]}}
    if details:
        fhir_entity["detail"] = details
    return {
        "resourceType": "AuditEvent",
        "id": _fhir_id(event["id"]),
        "extension": [leaf],
        "category": [{"coding": [{"system": AUDIT_TYPE_SYSTEM, "code": event["type"].split(".")[0]}]}],
        "code": {"coding": [{"system": AUDIT_TYPE_SYSTEM, "code": event["type"]}], "text": event["type"]},
        "action": event["action"],
        "recorded": event["recorded"],
        "outcome": {"code": {"system": OUTCOME_SYSTEM, "code": outcome_code, "display": outcome_label}},
        "agent": [fhir_agent],
        "source": {"site": {"display": source["site"]},
                   "observer": {"display": source["observer"]},
                   "type": [{"coding": [{"system": SOURCE_TYPE_SYSTEM, "code": source_code,
                                         "display": source_label}]}]},
        "entity": [fhir_entity],
    }


def searchset(bundles: list[dict], self_url: str, next_url: str | None) -> dict:
    """A FHIR R5 Bundle of type searchset holding one page of the trail."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    entries = [{"fullUrl": f"urn:aqta:audit-event:{b['audit_event']['id']}", "resource": audit_event(b),
                "search": {"mode": "match"}}
               for b in bundles if isinstance(b.get("audit_event"), dict) and "type" in b["audit_event"]]
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
