"""Bar charts drawn on the server as SVG geometry: no JavaScript, no chart library.

``bar_chart`` is pure: it turns labelled, optionally stacked values into
rectangles, gridlines and labels in a fixed viewBox that the template scales to
any width. The margins grow with the labels' estimated widths, so a long axis
label ("€0.0000015") is never cut off at the edge. Colours come from a small
palette that stays readable for the common colour-vision deficiencies (Okabe and Ito).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 480, 220  # viewBox units; a phone shows about 0.7 of a unit per pixel
FONT = 15  # axis label size, viewBox units: about 11 px on a phone, 16 px on a laptop
CHAR_WIDTH = 0.62  # of FONT: a digit or € in common sans-serif fonts, rounded up
GAP = 6  # between an axis label and the plot
EDGE = 4  # kept clear at the viewBox's edges
TOP, BOTTOM = 12, 30  # margins above the plot and below it (the x labels)
MAX_X_LABELS = 6
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#6b6b6b")
MAX_SERIES = len(PALETTE)  # the rest are summed into "other"
MAX_TICKS = 5  # gridlines above the baseline, at most


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # shown on hover, read by screen readers


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    ticks: list[Tick]
    x_labels: list[XLabel]
    legend: list[tuple[str, str]]  # (series name, colour)
    baseline: float
    left: float  # the plot's left edge; tick labels end GAP before it
    right: float  # the plot's right edge
    font: int = FONT
    gap: int = GAP


def text_width(text: str) -> float:
    """A generous estimate of ``text``'s width at FONT, in viewBox units."""
    return len(text) * CHAR_WIDTH * FONT


def axis_step(peak: Decimal, whole: bool = False) -> Decimal:
    """The gridlines' spacing: the smallest of 1, 2 or 5 times a power of ten that needs at most
    MAX_TICKS steps to reach ``peak`` (whole numbers only for counts), so labels stay short."""
    if peak <= 0:
        return Decimal(1)
    exponent = (peak / MAX_TICKS).adjusted()
    if whole:
        exponent = max(exponent, 0)
    while True:
        for multiple in (1, 2, 5):
            step = Decimal(multiple).scaleb(exponent)
            if (whole and step != step.to_integral_value()) or math.ceil(peak / step) > MAX_TICKS:
                continue
            return Decimal(format(step, "f"))  # plain digits: 50, not 5E+1
        exponent += 1


def top_series(periods: list[dict[str, Decimal]]) -> list[str]:
    """Series names by their total, largest first, at most MAX_SERIES with "other"."""
    totals: dict[str, Decimal] = {}
    for values in periods:
        for name, value in values.items():
            totals[name] = totals.get(name, Decimal(0)) + value
    ranked = sorted(totals, key=lambda name: (-totals[name], name))
    if len(ranked) > MAX_SERIES:
        return ranked[: MAX_SERIES - 1] + ["other"]
    return ranked


def _fold(values: dict[str, Decimal], names: list[str]) -> dict[str, Decimal]:
    if "other" not in names or "other" in values:
        return values
    kept = {name: value for name, value in values.items() if name in names}
    rest = sum((value for name, value in values.items() if name not in names), Decimal(0))
    return {**kept, "other": rest} if rest else kept


def bar_chart(labels: list[str], periods: list[dict[str, Decimal]], fmt,
              whole: bool = False, short=str) -> Chart:
    """Stacked bars, one per label; ``periods[i]`` maps series name → value for label i.

    ``fmt`` formats a value for the axis and the hover titles; ``whole`` keeps the
    gridlines on whole numbers (for counts); ``short`` shortens a label for the x axis.
    """
    names = top_series(periods)
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    periods = [_fold(values, names) for values in periods]
    peak = max((sum(values.values(), Decimal(0)) for values in periods), default=Decimal(0))
    step = axis_step(peak, whole)
    steps = max(1, math.ceil(peak / step))
    top = step * steps
    tick_labels = [fmt(step * i) for i in range(steps + 1)]
    every = max(1, -(-len(labels) // MAX_X_LABELS))
    shown = [(i, short(label)) for i, label in enumerate(labels) if i % every == 0]
    left, right = _plot_edges(tick_labels, shown, len(labels))
    plot_w, plot_h = right - left, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    slot = plot_w / max(1, len(labels))
    bar_w = max(1.0, slot * 0.7)
    rects = []
    for index, (label, values) in enumerate(zip(labels, periods)):
        x = left + index * slot + (slot - bar_w) / 2
        y = baseline
        for name in names:
            value = values.get(name, Decimal(0))
            if value <= 0:
                continue
            height = float(value / top) * plot_h
            y -= height
            title = f"{label}: {fmt(value)}" + (f" ({name})" if name else "")
            rects.append(Rect(round(x, 2), round(y, 2), round(bar_w, 2), round(height, 2),
                              colours[name], title))
    ticks = [Tick(round(baseline - plot_h * i / steps, 2), label)
             for i, label in enumerate(tick_labels)]
    x_labels = [XLabel(round(left + i * slot + slot / 2, 2), label) for i, label in shown]
    legend = [(name, colours[name]) for name in names if name]
    return Chart(WIDTH, HEIGHT, rects, ticks, x_labels, legend, baseline, round(left, 2),
                 round(right, 2))


def _plot_edges(tick_labels: list[str], shown: list[tuple[int, str]], count: int
                ) -> tuple[float, float]:
    """The plot's left and right edges: room for the widest tick label on the left, and for
    the first and last x labels, centred under their bars, inside the viewBox."""
    left, right = EDGE + max(map(text_width, tick_labels)) + GAP, float(WIDTH - EDGE)
    if not shown:
        return left, right
    (first, first_text), (last, last_text) = shown[0], shown[-1]
    at_first, at_last = (first + 0.5) / count, (last + 0.5) / count  # centres, as plot fractions
    for _ in range(3):  # each edge moves the other's labels a little; this settles in two
        # centre = left + at * (right - left); keep centre ± half the text inside the edges.
        left = max(left, (EDGE + text_width(first_text) / 2 - at_first * right) / (1 - at_first))
        right = min(right, left + (WIDTH - EDGE - text_width(last_text) / 2 - left) / at_last)
    return left, right
