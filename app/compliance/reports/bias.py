"""The bias section: the period's probing runs and monitoring windows, and what they flagged.

The findings are those ``GET /api/compliance/bias-detection`` answers, read through the
same service; a finding counts as flagged by the run's own rule (q < 0.05 and material).
Statistics are printed as text at a fixed precision so every format shows the same digits.
"""
from __future__ import annotations

from app.compliance.bias.service import period_findings
from app.compliance.reports.model import Figure, Scope, Section, Table
from storage.bias import MONITOR, PROBE, FindingRecord, RunRecord

LISTED = 200  # runs and windows, and flagged findings, listed one by one at most


def effect(value: float) -> str:
    return f"{value:.3f}"


def interval(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:.3f} to {bounds[1]:.3f}"


def q_value(q: float) -> str:
    return f"{q:.2g}"


def _what(run: RunRecord) -> str:
    if run.source == PROBE:
        return f"probing {run.model}"
    return (f"traffic {run.window_start.isoformat(timespec='minutes')} to "
            f"{run.window_end.isoformat(timespec='minutes')}")


def _run_row(run: RunRecord) -> list:
    return [run.created_at.isoformat(timespec="seconds"), run.id, _what(run), run.status,
            len(run.findings), sum(f.flagged for f in run.findings)]


def _finding_row(run: RunRecord, finding: FindingRecord) -> list:
    return [run.id, finding.attribute, f"{finding.group} against {finding.reference}", finding.kind,
            finding.n, finding.effect_name, effect(finding.effect), interval(finding.interval),
            q_value(finding.q)]


def _first(rows: list[list], what: str) -> str | None:
    return f"The first {LISTED} of {len(rows)} {what}." if len(rows) > LISTED else None


def bias_findings(scope: Scope) -> Section:
    runs = period_findings(scope.user_id, scope.since, scope.until)
    flagged = [(run, f) for run in runs for f in run.findings if f.flagged]
    probes = sum(run.source == PROBE for run in runs)
    windows = sum(run.source == MONITOR for run in runs)
    figures = [
        Figure("probe_runs", "Probing runs", probes),
        Figure("monitor_windows", "Monitoring windows tested", windows),
        Figure("comparisons", "Comparisons tested", sum(len(run.findings) for run in runs)),
        Figure("flagged_findings", "Findings flagged (q < 0.05 and material)", len(flagged)),
        Figure("flagged_attributes", "Attributes with a flagged finding",
               len({f.attribute for _, f in flagged})),
    ]
    if not runs:
        return Section("bias_findings", "Bias findings",
                       "No probing run and no monitoring window in this period.", True, figures)
    summary = (f"{probes} probing run(s) and {windows} monitoring window(s) in the period; "
               + (f"{len(flagged)} finding(s) flagged: "
                  + "; ".join(sorted({f"{f.attribute} {f.group}" for _, f in flagged})) + "."
                  if flagged else "no finding flagged."))
    run_rows = [_run_row(run) for run in runs]
    tables = [Table("Runs and windows", ["Started (UTC)", "Run", "What", "Status", "Comparisons",
                                         "Flagged"], run_rows[:LISTED], _first(run_rows, "runs"))]
    if flagged:
        rows = [_finding_row(run, f) for run, f in flagged]
        tables.append(Table("Flagged findings", ["Run", "Attribute", "Group", "Decision", "n", "Effect",
                                                 "Value", "95% interval", "q"],
                            rows[:LISTED], _first(rows, "flagged findings")))
    return Section("bias_findings", "Bias findings", summary, False, figures, tables)
