"""A report as JSON: sections of named figures (money as exact decimal strings), tables and charts."""
from __future__ import annotations

import json
from dataclasses import asdict

from app.compliance.reports.model import Report, Section, Value, shown

EMPTY_NOTE = "No activity was recorded in this period."


def _json_value(value: Value):
    return value if value is None or isinstance(value, bool | int) else shown(value)


def section_dict(section: Section) -> dict:
    return {"key": section.key, "title": section.title, "summary": section.summary,
            "empty": section.empty, "provisions": section.provisions,
            "figures": {f.name: _json_value(f.value) for f in section.figures},
            "labels": {f.name: f.label for f in section.figures},
            "tables": [{"title": t.title, "columns": t.columns, "note": t.note,
                        "rows": [[_json_value(v) for v in row] for row in t.rows]} for t in section.tables],
            "charts": [asdict(chart) for chart in section.charts]}


def report_dict(report: Report) -> dict:
    return {"account_id": report.account_id,
            "period": {"since": report.period.since.isoformat(), "until": report.period.until.isoformat()},
            "generated_at": report.generated_at.isoformat(),
            "empty": report.empty, "note": EMPTY_NOTE if report.empty else None,
            "sections": [section_dict(section) for section in report.sections],
            "provisions": report.provisions}


def render_json(report: Report) -> bytes:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False).encode()
