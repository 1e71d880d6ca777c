"""Schemas of the analytics API: query arguments and responses."""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate

from app.analytics.cost_series import GROUP_BY, INTERVALS
from app.analytics.cursors import in_range

MAX_PAGE = 500  # records per page of the request history


class Money(fields.String):
    """EUR as an exact decimal string with 8 places, e.g. "0.00012300"."""

    def __init__(self, **kwargs):
        metadata = {"format": "decimal", "example": "0.00012300", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Decimal | None, attr, obj, **kwargs):
        return None if value is None else format(value, "f")




class Instant(fields.AwareDateTime):
    """An ISO-8601 date or date-time from 1970 to 2999; a date means its midnight, naive times are UTC."""

    def __init__(self, **kwargs):
        metadata = {"example": "2026-11-01", **kwargs.pop("metadata", {})}
        super().__init__(default_timezone=UTC, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        try:
            if isinstance(value, str) and len(value) == 10:
                return in_range(datetime.combine(date.fromisoformat(value), time(), UTC))
            return in_range(super()._deserialize(value, attr, data, **kwargs))
        except ValueError:
            raise ValidationError("Not a valid date or date-time (ISO 8601) from 1970 to 2999.") from None


class RequestsQuerySchema(Schema):
    since = Instant(metadata={"description": "Only requests at or after this time (ISO 8601, UTC)"})
    until = Instant(metadata={"description": "Only requests before this time (exclusive)"})
    key_id = fields.String(metadata={"description": "Only this key's requests"})
    model = fields.String()
    provider = fields.String()
    status = fields.String(metadata={"description": "ok, error, cached or client_disconnected"})
    cached = fields.Boolean()
    loop_detected = fields.Boolean()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE),
                           metadata={"description": f"Records per page, at most {MAX_PAGE}"})
    cursor = fields.String(metadata={"description": "next_cursor from the previous page"})


class RequestRecordSchema(Schema):
    request_id = fields.String(required=True)
    key_id = fields.String(required=True)
    model = fields.String(required=True)
    provider = fields.String(required=True)
    status = fields.String(required=True)
    error_code = fields.String(allow_none=True)
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)
    cost_eur = Money(required=True)
    saved_eur = Money(required=True, metadata={"description": "What the cache saved (cache hits)"})
    cached = fields.Boolean(required=True)
    loop_detected = fields.Boolean(required=True)
    latency_ms = fields.Integer(required=True)
    ttft_ms = fields.Integer(allow_none=True, metadata={"description": "Time to first token (streams)"})
    created_at = fields.AwareDateTime(required=True)


class RequestPageSchema(Schema):
    data = fields.List(fields.Nested(RequestRecordSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "Pass as cursor for the next page; "
                                                         "null on the last page"})


class CostsQuerySchema(Schema):
    since = Instant(metadata={"description": "First UTC day (a date, or midnight UTC); "
                                             "default: 30 days before until (free tier: the "
                                             "first of this month)"})
    until = Instant(metadata={"description": "End UTC day, exclusive; default: tomorrow "
                                             "(the range includes today)"})
    interval = fields.String(load_default="day", validate=validate.OneOf(INTERVALS),
                             metadata={"description": "Period of the series (weeks start on Monday)"})
    group_by = fields.String(validate=validate.OneOf(GROUP_BY),
                             metadata={"description": "Break each period down by this"})


class TotalsSchema(Schema):
    total_eur = Money(required=True, attribute="cost_eur")
    saved_eur = Money(required=True, metadata={"description": "What the cache saved"})
    requests = fields.Integer(required=True)
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)
    cached = fields.Integer(required=True, metadata={"description": "Requests served from the cache"})
    loop_blocks = fields.Integer(required=True, metadata={"description": "Requests caught in a loop"})
    errors = fields.Integer(required=True)


class GroupTotalsSchema(TotalsSchema):
    group = fields.String(required=True, metadata={"description": "The model, provider or key id"})


class PeriodSchema(TotalsSchema):
    start = fields.Date(required=True)
    end = fields.Date(required=True, metadata={"description": "Exclusive"})
    groups = fields.List(fields.Nested(GroupTotalsSchema),
                         metadata={"description": "Per group, most expensive first (with group_by)"})


class CostsSchema(Schema):
    currency = fields.String(required=True, metadata={"description": "Always EUR"})
    since = fields.Date(required=True)
    until = fields.Date(required=True, metadata={"description": "Exclusive"})
    interval = fields.String(required=True)
    group_by = fields.String(allow_none=True, required=True)
    totals = fields.Nested(TotalsSchema, required=True)
    series = fields.List(fields.Nested(PeriodSchema), required=True)
