"""The provisions a report evidences, and which section evidences which: one data table.

A section not in EVIDENCE evidences nothing; a provision no section of a report
evidences is listed as not covered by it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provision:
    citation: str
    title: str
    requires: str  # in a sentence


PROVISIONS = {
    "hipaa-164.312-b": Provision(
        "HIPAA §164.312(b)", "Audit controls",
        "Mechanisms that record and examine activity in systems that contain or use ePHI."),
    "hipaa-164.312-c-1": Provision(
        "HIPAA §164.312(c)(1)", "Integrity",
        "Protect ePHI from improper alteration or destruction."),
    "hipaa-164.316-b-2": Provision(
        "HIPAA §164.316(b)(2)", "Documentation: time limit, availability, updates",
        "Keep the required documentation six years and available to those who need it."),
    "eu-ai-act-art-12": Provision(
        "EU AI Act Art. 12", "Record-keeping",
        "High-risk AI systems automatically record events (logs) over their lifetime."),
    "eu-ai-act-art-14": Provision(
        "EU AI Act Art. 14", "Human oversight",
        "People can oversee the system, intervene in it and interrupt it."),
    "eu-ai-act-art-19": Provision(
        "EU AI Act Art. 19", "Automatically generated logs",
        "The automatically generated logs are kept, for at least six months."),
}

# section key -> the provisions it evidences
EVIDENCE: dict[str, tuple[str, ...]] = {
    "usage_and_cost": ("hipaa-164.312-b", "eu-ai-act-art-12", "eu-ai-act-art-19"),
    "receipts_and_log": ("hipaa-164.312-b", "hipaa-164.312-c-1", "hipaa-164.316-b-2",
                         "eu-ai-act-art-12", "eu-ai-act-art-19"),
    "loops_blocked": ("hipaa-164.312-b", "eu-ai-act-art-12", "eu-ai-act-art-14"),
}


def coverage(section_keys: list[str], titles: dict[str, str]) -> list[dict]:
    """Each provision with the titles of the sections (of ``section_keys``) evidencing it."""
    return [{"id": pid, "citation": p.citation, "title": p.title, "requires": p.requires,
             "evidenced_by": [titles[key] for key in section_keys if pid in EVIDENCE.get(key, ())]}
            for pid, p in PROVISIONS.items()]
