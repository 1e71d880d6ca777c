"""The SVG bar charts' geometry: pure functions, table-driven."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.dashboard.charts import (
    BOTTOM,
    HEIGHT,
    MAX_SERIES,
    MAX_TICKS,
    TOP,
    WIDTH,
    axis_step,
    bar_chart,
    text_width,
    top_series,
)


@pytest.mark.parametrize("peak, whole, step", [
    ("0", False, "1"), ("0.0000041", False, "0.000001"), ("0.00000125", False, "0.0000005"),
    ("0.3", False, "0.1"), ("1", False, "0.2"), ("4", False, "1"), ("7", False, "2"),
    ("12", False, "5"), ("99", False, "20"), ("1234", False, "500"),
    ("1", True, "1"), ("3", True, "1"), ("7", True, "2"), ("12", True, "5"), ("150", True, "50"),
])
def test_the_gridlines_step_is_round_and_reaches_the_peak_in_few_steps(peak, whole, step):
    assert axis_step(Decimal(peak), whole) == Decimal(step)
    assert Decimal(step) * MAX_TICKS >= Decimal(peak)


def test_bars_stack_to_their_share_of_the_axis():
    chart = bar_chart(["2026-11-01", "2026-11-02"],
                      [{"a": Decimal(3), "b": Decimal(1)}, {"a": Decimal(2)}], str)
    plot = HEIGHT - TOP - BOTTOM
    heights = [(rect.title, rect.height) for rect in chart.rects]
    assert heights == [("2026-11-01: 3 (a)", round(plot * 0.75, 2)),
                       ("2026-11-01: 1 (b)", round(plot * 0.25, 2)),
                       ("2026-11-02: 2 (a)", round(plot * 0.5, 2))]
    first_a, first_b = chart.rects[0], chart.rects[1]
    assert first_a.y + first_a.height == pytest.approx(chart.baseline, abs=0.01)
    assert first_b.y + first_b.height == pytest.approx(first_a.y, abs=0.01)
    assert [tick.label for tick in chart.ticks] == ["0", "1", "2", "3", "4"]
    assert chart.legend == [("a", chart.rects[0].colour), ("b", chart.rects[1].colour)]


def test_empty_periods_draw_no_bars_and_an_unnamed_series_no_legend():
    chart = bar_chart(["d1", "d2"], [{"": Decimal(0)}, {"": Decimal(4)}], str)
    assert [rect.title for rect in chart.rects] == ["d2: 4"]
    assert chart.legend == []


def test_small_series_beyond_the_palette_are_summed_into_other():
    values = {f"model-{n}": Decimal(100 - n) for n in range(MAX_SERIES + 3)}
    names = top_series([values])
    assert len(names) == MAX_SERIES and names[-1] == "other"
    chart = bar_chart(["d"], [values], str)
    other = [rect for rect in chart.rects if rect.title.endswith("(other)")]
    assert other[0].title == f"d: {sum(100 - n for n in range(MAX_SERIES - 1, MAX_SERIES + 3))} (other)"


def test_many_periods_get_at_most_eight_x_labels():
    labels = [f"day-{n}" for n in range(31)]
    chart = bar_chart(labels, [{"": Decimal(1)}] * 31, str)
    assert len(chart.x_labels) <= 8 and chart.x_labels[0].label == "day-0"


@pytest.mark.parametrize("peak, labels", [
    (1, ["0", "1"]), (7, ["0", "2", "4", "6", "8"]), (150, ["0", "50", "100", "150"]),
])
def test_count_charts_keep_their_gridlines_on_whole_numbers(peak, labels):
    chart = bar_chart(["d"], [{"": Decimal(peak)}], str, whole=True)
    assert [tick.label for tick in chart.ticks] == labels


@pytest.mark.parametrize("peak, days", [
    ("0.0000013", 30), ("0.0000013", 1), ("1234567.5", 7), ("0.42", 2), ("0", 31), ("3", 12),
])
def test_every_label_fits_inside_the_viewbox(peak, days):
    labels = [f"2026-{12 if days < 31 else 1:02d}-{day:02d}" for day in range(1, days + 1)]
    chart = bar_chart(labels, [{"": Decimal(peak)}] * days, lambda v: f"€{v.normalize():f}",
                      short=lambda day: day[5:])
    for tick in chart.ticks:
        assert chart.left - chart.gap - text_width(tick.label) >= 0, tick.label
    for label in chart.x_labels:
        assert label.x - text_width(label.label) / 2 >= 0 and label.x + text_width(label.label) / 2 <= WIDTH
    assert all(chart.left <= rect.x and rect.x + rect.width <= chart.right for rect in chart.rects)

