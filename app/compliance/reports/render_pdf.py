"""A report as PDF (reportlab): text in standard fonts, so it can be extracted and searched."""
from __future__ import annotations

import io
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.tables import LongTable

from app.compliance.reports import chart
from app.compliance.reports.model import Report, Section, Value, shown
from app.compliance.reports.model import Table as ReportTable
from app.compliance.reports.provisions import PROVISIONS
from app.compliance.reports.render_json import EMPTY_NOTE

STYLES = getSampleStyleSheet()
CELL = ParagraphStyle("cell", parent=STYLES["BodyText"], fontSize=8, leading=10)
GRID = TableStyle([
    ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
])
HEADED = TableStyle([("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                     ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee"))])


def _text(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (reportlab reads its own markup in a paragraph: escape it)."""
    return Paragraph(escape(text), style)


def _cell(value: Value) -> Paragraph | str:
    text = shown(value)
    return _text(text, CELL) if len(text) > 40 else text


def _aligned(rows: list[list[Value]]) -> list[tuple]:
    """Numbers right-aligned, cell by cell."""
    return [("ALIGN", (col, row), (col, row), "RIGHT") for row, values in enumerate(rows)
            for col, value in enumerate(values)
            if isinstance(value, int | Decimal) and not isinstance(value, bool)]


def _table(table: ReportTable) -> list[Flowable]:
    body = [table.columns, *table.rows]
    flow = LongTable([[_cell(v) for v in row] for row in body], repeatRows=1, hAlign="LEFT")
    flow.setStyle(GRID)
    flow.setStyle(HEADED)
    flow.setStyle(TableStyle(_aligned(body)))
    parts: list[Flowable] = [_text(table.title, STYLES["Heading4"]), flow]
    if table.note:
        parts.append(_text(table.note, STYLES["Italic"]))
    return parts


def _section(section: Section) -> list[Flowable]:
    cited = "; ".join(PROVISIONS[pid].citation for pid in section.provisions)
    figures = Table([[f.label, shown(f.value)] for f in section.figures], colWidths=[95 * mm, 60 * mm],
                    hAlign="LEFT")
    figures.setStyle(GRID)
    figures.setStyle(TableStyle([("ALIGN", (1, 0), (1, -1), "RIGHT")]))
    parts: list[Flowable] = [_text(section.title, STYLES["Heading2"]),
                             _text(section.summary, STYLES["BodyText"]),
                             _text(f"Evidences: {cited}", STYLES["Italic"]), Spacer(1, 3 * mm), figures]
    for drawn in section.charts:
        parts += [Spacer(1, 4 * mm), chart.drawing(drawn)]
    for table in section.tables:
        parts += _table(table)
    return parts


def _provisions(report: Report) -> list[Flowable]:
    rows = [["Provision", "Evidenced by"]] + [
        [_text(f"{p['citation']}: {p['title']}", STYLES["BodyText"]),
         _text("; ".join(p["evidenced_by"]) or "not covered by this report", STYLES["BodyText"])]
        for p in report.provisions]
    table = Table(rows, colWidths=[85 * mm, 85 * mm], hAlign="LEFT", repeatRows=1)
    table.setStyle(GRID)
    table.setStyle(HEADED)
    return [_text("Provisions evidenced", STYLES["Heading2"]), table]


def render_pdf(report: Report) -> bytes:
    out = io.BytesIO()
    period = f"{report.period.since} to {report.period.until}"
    document = SimpleDocTemplate(out, pagesize=A4, title=f"Compliance report {period}", author="Aqta",
                                 leftMargin=18 * mm, rightMargin=18 * mm,
                                 topMargin=16 * mm, bottomMargin=16 * mm)
    story: list[Flowable] = [
        _text("Compliance report", STYLES["Title"]),
        _text(f"Account {report.account_id}, period {period} (UTC, end exclusive). "
                  f"Generated {report.generated_at.isoformat(timespec='seconds')}.", STYLES["BodyText"]),
    ]
    if report.empty:
        story.append(_text(EMPTY_NOTE, STYLES["Heading3"]))
    for section in report.sections:
        story += _section(section)
    story += _provisions(report)
    document.build(story)
    return out.getvalue()
