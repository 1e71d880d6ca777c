"""Decisions by demographic group, read on the hot path for bias monitoring (healthcare tier).

A request may declare its patient's groups in OpenAI's ``metadata`` object (``sex``,
``ethnicity``, ``age``, ``insurance``: short strings). When its answer is a JSON object with a
yes/no ``decision``, the groups and the decision (never any text) are handed to bias
monitoring by actor name. A request that declares nothing costs one dictionary lookup.
"""
from __future__ import annotations

import logging
from datetime import datetime

import orjson

from app.healthcare.receipts import HEALTHCARE_TIER
from app.jobs import JobQueueUnavailable, enqueue
from storage.records import ApiKeyRecord

log = logging.getLogger(__name__)
OBSERVE_ACTOR = "compliance_bias.observe"
OBSERVE_QUEUE = "compliance"
ATTRIBUTES = ("sex", "ethnicity", "age", "insurance")
MAX_GROUP_CHARS = 40
_YES, _NO = frozenset({"yes", "true"}), frozenset({"no", "false"})


def declared_groups(body: dict) -> dict[str, str]:
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return {}
    groups = {}
    for name in ATTRIBUTES:
        value = metadata.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an age given as a number
        if isinstance(value, str) and 0 < len(value.strip()) <= MAX_GROUP_CHARS \
                and value.isprintable():
            groups[name] = value.strip()
    return groups


def yes_no_decision(answer: dict) -> str | None:
    """"yes" or "no" from the first choice's content, a JSON object with a ``decision``."""
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(content, str) or not content.lstrip().startswith("{"):
        return None
    try:
        decision = orjson.loads(content).get("decision")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    word = str(decision).strip().lower() if decision is not None else ""
    return "yes" if word in _YES else "no" if word in _NO else None


def observe(key: ApiKeyRecord, request_id: str, created_at: datetime, body: dict,
            answer: dict | None) -> None:
    """Hand a healthcare answer's declared groups and decision to bias monitoring, if any."""
    if answer is None or key.tier != HEALTHCARE_TIER:
        return
    groups = declared_groups(body)
    if not groups:
        return
    decision = yes_no_decision(answer)
    if decision is None:
        return
    try:
        enqueue(OBSERVE_ACTOR, queue_name=OBSERVE_QUEUE, request_id=request_id,
                user_id=key.user_id, created_at=created_at.isoformat(), groups=groups,
                decision=decision)
    except JobQueueUnavailable:  # monitoring is statistical: one decision less, not an error
        log.warning("bias monitoring: the job queue is down; decision of %s not counted", request_id)
