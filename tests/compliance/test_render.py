"""The renderers on one report built by hand (pure): every format shows the same figures, text stays text."""
from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

from pypdf import PdfReader

from app.compliance.reports.model import Chart, Figure, Period, Report, Section, Table
from app.compliance.reports.provisions import coverage
from app.compliance.reports.render_html import render_html
from app.compliance.reports.render_json import render_json
from app.compliance.reports.render_pdf import render_pdf

MARKUP = '<b>model & "friends"</b> <para>with markup, and longer than forty characters'


def _report() -> Report:
    section = Section(
        "usage_and_cost", "Usage and cost", "3 requests & <one> summary", False,
        [Figure("requests", "Requests", 3), Figure("total_eur", "Cost (EUR)", Decimal("0.00012300")),
         Figure("log_consistent", "Consistent", True)],
        [Table("Per model", ["Model", "Requests"], [[MARKUP, 3]])],
        [Chart("Cost per day (EUR)", ["11-29", "11-30"], [0.00001, 0.0000123], "EUR")],
        ["hipaa-164.312-b"])
    return Report("usr_test", Period(date(2026, 11, 29), date(2026, 12, 1)),
                  datetime(2026, 11, 30, tzinfo=UTC), [section],
                  coverage(["usage_and_cost"], {"usage_and_cost": "Usage and cost"}))


def test_money_is_its_exact_decimal_string_in_every_format():
    report = _report()
    figures = json.loads(render_json(report))["sections"][0]["figures"]
    assert figures == {"requests": 3, "total_eur": "0.00012300", "log_consistent": True}
    assert 'data-figure="total_eur">0.00012300<' in render_html(report).decode()
    assert "Cost (EUR)\n0.00012300\n" in _pdf_text(render_pdf(report))


def test_text_that_looks_like_markup_is_printed_as_text():
    report = _report()
    html = render_html(report).decode()
    assert "&lt;b&gt;model &amp; &#34;friends&#34;&lt;/b&gt;" in html and "<b>model" not in html
    text = " ".join(_pdf_text(render_pdf(report)).split())
    assert MARKUP in text and "3 requests & <one> summary" in text


def test_the_cost_axis_reads_as_decimals():
    svg = render_html(_report()).decode()
    assert "e-05" not in svg and "0.00001" in svg


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
