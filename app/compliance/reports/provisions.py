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
    "hipaa-164.308-a-1-ii-d": Provision(
        "HIPAA §164.308(a)(1)(ii)(D)", "Information system activity review",
        "Regularly review records of information system activity, such as audit logs and access reports."),
    "hipaa-164.312-b": Provision(
        "HIPAA §164.312(b)", "Audit controls",
        "Mechanisms that record and examine activity in systems that contain or use ePHI."),
    "hipaa-164.312-c-1": Provision(
        "HIPAA §164.312(c)(1)", "Integrity",
        "Protect ePHI from improper alteration or destruction."),
    "hipaa-164.316-b-2": Provision(
        "HIPAA §164.316(b)(2)", "Documentation: time limit, availability, updates",
        "Keep the required documentation six years and available to those who need it."),
    "eu-ai-act-art-10": Provision(
        "EU AI Act Art. 10", "Data and data governance",
        "Examine the system for possible biases likely to lead to discrimination, and mitigate them."),
    "eu-ai-act-art-12": Provision(
        "EU AI Act Art. 12", "Record-keeping",
        "High-risk AI systems automatically record events (logs) over their lifetime."),
    "eu-ai-act-art-14": Provision(
        "EU AI Act Art. 14", "Human oversight",
        "People can oversee the system, intervene in it and interrupt it."),
    "eu-ai-act-art-15": Provision(
        "EU AI Act Art. 15", "Accuracy, robustness and cybersecurity",
        "Perform consistently throughout the lifecycle; address biased outputs feeding back into use."),
    "eu-ai-act-art-19": Provision(
        "EU AI Act Art. 19", "Automatically generated logs",
        "The automatically generated logs are kept, for at least six months."),
    "eu-ai-act-art-26": Provision(
        "EU AI Act Art. 26", "Obligations of deployers of high-risk AI systems",
        "Use the system as instructed, assign competent human oversight, monitor its operation."),
    "hhs-45-cfr-92-210": Provision(
        "45 CFR §92.210 (HHS)", "Nondiscrimination in the use of patient care decision support tools",
        "Identify the tools' risks of discrimination on race, color, national origin, sex, age or "
        "disability, and mitigate them."),
}

# section key -> the provisions it evidences
EVIDENCE: dict[str, tuple[str, ...]] = {
    "usage_and_cost": ("hipaa-164.312-b", "eu-ai-act-art-12", "eu-ai-act-art-19"),
    "receipts_and_log": ("hipaa-164.312-b", "hipaa-164.312-c-1", "hipaa-164.316-b-2",
                         "eu-ai-act-art-12", "eu-ai-act-art-19"),
    "loops_blocked": ("hipaa-164.312-b", "eu-ai-act-art-12", "eu-ai-act-art-14"),
    "audit_trail": ("hipaa-164.308-a-1-ii-d", "hipaa-164.312-b", "hipaa-164.312-c-1",
                    "hipaa-164.316-b-2", "eu-ai-act-art-12"),
    "high_risk_decisions": ("hipaa-164.312-b", "eu-ai-act-art-12", "eu-ai-act-art-14",
                            "eu-ai-act-art-26"),
    "bias_findings": ("eu-ai-act-art-10", "eu-ai-act-art-15", "hhs-45-cfr-92-210"),
}


def coverage(section_keys: list[str], titles: dict[str, str]) -> list[dict]:
    """Each provision with the titles of the sections (of ``section_keys``) evidencing it."""
    return [{"id": pid, "citation": p.citation, "title": p.title, "requires": p.requires,
             "evidenced_by": [titles[key] for key in section_keys if pid in EVIDENCE.get(key, ())]}
            for pid, p in PROVISIONS.items()]
