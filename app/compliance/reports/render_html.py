"""A report as one self-contained HTML page (Jinja, autoescaped; charts inline as SVG)."""
from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from app.compliance.reports import chart
from app.compliance.reports.model import Report, shown
from app.compliance.reports.provisions import PROVISIONS
from app.compliance.reports.render_json import EMPTY_NOTE

_environment: Environment | None = None


def environment() -> Environment:
    global _environment
    if _environment is None:
        env = Environment(loader=PackageLoader("app.compliance.reports", "templates"),
                          autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        env.filters["shown"] = shown
        env.filters["svg"] = lambda c: Markup(chart.svg(c))  # our own drawing, no user text unescaped
        _environment = env
    return _environment


def render_html(report: Report) -> bytes:
    page = environment().get_template("report.html").render(
        report=report, provisions=PROVISIONS, empty_note=EMPTY_NOTE)
    return page.encode()
