"""A report chart drawn once with reportlab's graphics: embedded in the PDF, or as SVG in HTML."""
from __future__ import annotations

from decimal import Decimal

from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from app.compliance.reports.model import Chart

WIDTH, HEIGHT = 480, 170  # points
MAX_LABELS = 8  # x labels shown; the others are left blank so they never overlap
BAR_COLOUR = colors.HexColor("#0072B2")  # Okabe–Ito blue, as the dashboard's charts


def _thinned(labels: list[str]) -> list[str]:
    step = max(1, -(-len(labels) // MAX_LABELS))
    return [label if i % step == 0 else "" for i, label in enumerate(labels)]


def _tick(unit: str):
    """Axis labels: exact decimals for money (0.00002, never 2e-05), whole numbers for counts."""
    if unit:
        # rounded past EUR's 8 places only to drop the float noise of the axis' steps
        return lambda value: format(Decimal(repr(round(value, 10))).normalize(), "f")
    return lambda value: str(int(value)) if float(value).is_integer() else ""


def drawing(chart: Chart) -> Drawing:
    """A bar chart of ``chart``'s values, titled, with a value axis from zero."""
    canvas = Drawing(WIDTH, HEIGHT)
    canvas.add(String(0, HEIGHT - 12, chart.title, fontName="Helvetica-Bold", fontSize=10))
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = 60, 30, WIDTH - 70, HEIGHT - 60
    bars.data = [chart.values or [0]]
    bars.bars[0].fillColor = BAR_COLOUR
    bars.bars[0].strokeColor = None
    bars.valueAxis.valueMin = 0
    if not any(chart.values):
        bars.valueAxis.valueMax = 1
    bars.valueAxis.labels.fontSize = 7
    bars.valueAxis.labelTextFormat = _tick(chart.unit)
    bars.categoryAxis.categoryNames = _thinned(chart.labels) or [""]
    bars.categoryAxis.labels.fontSize = 7
    canvas.add(bars)
    return canvas


def svg(chart: Chart) -> str:
    """The chart as an inline SVG element (no XML declaration)."""
    text = renderSVG.drawToString(drawing(chart))
    return text[text.index("<svg"):]
