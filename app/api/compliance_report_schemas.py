"""Schemas of the compliance report API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.analytics_schemas import Instant
from app.compliance.reports.jobs import FORMATS


class ReportBodySchema(Schema):
    format = fields.String(required=True, validate=validate.OneOf(FORMATS),
                           metadata={"description": "json, html or pdf"})
    month = fields.String(validate=validate.Regexp(r"^\d{4}-\d{2}$", error="Give a month as YYYY-MM."),
                          metadata={"description": "A calendar month (UTC), instead of since/until",
                                    "example": "2026-11"})
    since = Instant(metadata={"description": "First UTC day of the period (a date, or midnight UTC)"})
    until = Instant(metadata={"description": "End UTC day, exclusive; default: tomorrow (today included)"})
