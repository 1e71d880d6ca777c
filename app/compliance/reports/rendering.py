"""A report in each format: JSON, HTML (with SVG charts) and PDF (reportlab)."""
from __future__ import annotations

from collections.abc import Callable

from app.compliance.reports.model import Report
from app.compliance.reports.render_html import render_html
from app.compliance.reports.render_json import render_json
from app.compliance.reports.render_pdf import render_pdf

RENDERERS: dict[str, Callable[[Report], bytes]] = {
    "json": render_json, "html": render_html, "pdf": render_pdf}


def render(fmt: str, report: Report) -> bytes:
    return RENDERERS[fmt](report)
