"""What a report is made of: sections of named figures, tables and charts, format-neutral.

Every format renders these same objects, so a figure in the PDF is the figure in the
JSON. Values are ints, exact Decimals (EUR), booleans or text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

Value = int | Decimal | bool | str | None


def shown(value: Value) -> str:
    """A value as every format prints it (money as its exact decimal string)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@dataclass(frozen=True)
class Figure:
    name: str  # stable, for machines: "requests", "total_eur"
    label: str  # for people: "Requests"
    value: Value


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Value]]
    note: str | None = None  # e.g. "the first 200 of 1,234"


@dataclass(frozen=True)
class Chart:
    """Bars per period of one series, e.g. requests per day."""

    title: str
    labels: list[str]
    values: list[float]
    unit: str = ""  # "EUR", or "" for counts


@dataclass
class Section:
    key: str  # stable: "usage_and_cost"
    title: str
    summary: str  # one sentence; says so when the period has no data
    empty: bool
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    provisions: list[str] = field(default_factory=list)  # ids in provisions.PROVISIONS

    def figure(self, name: str) -> Value:
        return next(f.value for f in self.figures if f.name == name)


@dataclass(frozen=True)
class Period:
    """Whole UTC days: [since, until)."""

    since: date
    until: date  # exclusive

    @property
    def days(self) -> int:
        return (self.until - self.since).days


@dataclass
class Report:
    account_id: str
    period: Period
    generated_at: datetime
    sections: list[Section]
    provisions: list[dict]  # each provision with the sections of this report evidencing it

    @property
    def empty(self) -> bool:
        return all(section.empty for section in self.sections)


@dataclass(frozen=True)
class Scope:
    """What every section builder is given: whose report, on which tier, over which days."""

    user_id: str
    tier: str
    period: Period

    @property
    def since(self) -> datetime:
        return datetime.combine(self.period.since, time(), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.period.until, time(), UTC)
