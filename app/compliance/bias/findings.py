"""Keeping a run's findings, and raising one compliance.violation per newly flagged one.

A flagged finding is new when the same comparison was not flagged in the account's previous
run of the same kind (for probing, of the same model): a bias that persists window after
window is reported when it appears, not every window. ``claim_notification`` makes the event
exactly-once even when a job is redelivered.
"""
from __future__ import annotations

import storage.bias as bias_repo
from app.compliance.bias.stats import Finding
from app.webhooks import service as webhooks
from app.webhooks.events import COMPLIANCE_VIOLATION
from storage.bias import FindingRecord, NewFinding, RunRecord

RULE = "art_10_bias_examination"  # EU AI Act Art. 10(2)(f); also HHS §92.210


def keep(run: RunRecord, findings: list[Finding]) -> list[FindingRecord]:
    """Store the run's (already adjusted) findings and raise events for the new flagged ones."""
    stored = bias_repo.save_findings(run, [
        NewFinding(f.attribute, f.reference, f.group, f.kind, f.test, f.n, f.rates, f.effect_name,
                   f.effect, f.interval, f.p, f.q if f.q is not None else f.p, f.flagged, f.extra)
        for f in findings])
    for finding in stored:
        if finding.flagged and is_new(run, finding) and bias_repo.claim_notification(finding.id):
            webhooks.emit(COMPLIANCE_VIOLATION, run.user_id, violation(run, finding))
    return stored


def is_new(run: RunRecord, finding: FindingRecord) -> bool:
    previous = bias_repo.previous_finding(run, finding)
    return previous is None or not previous.flagged


def violation(run: RunRecord, finding: FindingRecord) -> dict:
    where = f"model {run.model}" if run.model else "monitored traffic"
    what = (f"{finding.effect_name.replace('_', ' ')} {finding.effect:+.0%}"
            if finding.effect_name == "parity_difference" else f"{finding.effect:.0%} of pairs flipped")
    return {"framework": "eu_ai_act", "rule": RULE,
            "severity": "high" if abs(finding.effect) >= 0.2 else "medium",
            "message": f"Bias run {run.id} ({where}): {finding.attribute} {finding.group} against "
                       f"{finding.reference}, {finding.kind} decisions: {what} "
                       f"(n={finding.n}, q={finding.q:.2g})."}
