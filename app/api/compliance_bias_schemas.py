"""Schemas of the bias detection API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.compliance.bias import stats
from app.compliance.bias.service import MAX_PAIRS, MIN_PAIRS
from app.compliance.bias.vignettes import ATTRIBUTES, DECISIONS, MAX_TEXT_CHARS

MAX_OWN_TEMPLATES = 50
MAX_HISTORY = 200  # runs and windows per answer


class OwnTemplateSchema(Schema):
    id = fields.String(validate=validate.Length(max=64))
    domain = fields.String(validate=validate.Length(max=40))
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS),
                             metadata={"description": "yes_no, level (1-5) or dose (mg)"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT_CHARS),
                         metadata={"description": "The vignette, with a {sex}, {ethnicity}, {age} "
                                                  "or {insurance} slot for each attribute varied"})


class ProbeRunBodySchema(Schema):
    model = fields.String(required=True, metadata={"example": "gpt-4o"})
    attributes = fields.List(fields.String(validate=validate.OneOf(list(ATTRIBUTES))),
                             load_default=lambda: list(ATTRIBUTES),
                             metadata={"description": "Which attributes to vary: each group of one "
                                                      "is compared with its first (reference) group",
                                       "example": ["sex", "ethnicity"]})
    pairs = fields.Integer(load_default=100, validate=validate.Range(min=MIN_PAIRS, max=MAX_PAIRS),
                           metadata={"description": "Matched pairs per compared group"})
    domains = fields.List(fields.String(), allow_none=True, load_default=None, metadata={
        "description": "Built-in vignettes only of these domains: triage, pain_management, "
                       "referral, dosing"})
    templates = fields.List(fields.Nested(OwnTemplateSchema), allow_none=True, load_default=None,
                            validate=validate.Length(min=1, max=MAX_OWN_TEMPLATES),
                            metadata={"description": "The account's own vignettes instead of "
                                                     "the built-in bank"})
    material_flip_rate = fields.Float(load_default=stats.DEFAULT_MATERIAL,
                                      validate=validate.Range(min=0, max=1), metadata={
        "description": "The smallest flip rate flagged (with q < 0.05)"})
    seed = fields.Integer(allow_none=True, load_default=None,
                          validate=validate.Range(min=0, max=2**31 - 1),
                          metadata={"description": "Draws the pairs; the same seed, the same prompts"})
    key_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "The key the probes are billed to (default: the key calling)"})


class FindingSchema(Schema):
    attribute = fields.String(required=True)
    reference = fields.String(required=True, metadata={"description": "The group compared against"})
    group = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["yes_no", "level", "dose", "parity"]),
                         metadata={"description": "The decision compared: yes_no, level (triage "
                                                  "1-5) or dose (mg), probed in pairs; or parity "
                                                  "(yes/no rates of monitored traffic)"})
    test = fields.String(required=True, metadata={
        "description": "mcnemar_exact, wilcoxon_signed_rank or fisher_exact"})
    n = fields.Integer(required=True, metadata={"description": "Pairs, or decisions of both groups"})
    rates = fields.Dict(keys=fields.String(), values=fields.Float(), required=True, metadata={
        "description": "Per group: the share of yes (yes_no, parity) or the mean level or dose"})
    effect_name = fields.String(required=True, metadata={
        "description": "flip_rate (probing) or parity_difference (monitoring)"})
    effect = fields.Float(required=True)
    interval = fields.List(fields.Float(), required=True,
                           metadata={"description": "The effect's 95 % confidence interval"})
    p = fields.Float(required=True)
    q = fields.Float(required=True, metadata={"description": "Benjamini-Hochberg across the run"})
    flagged = fields.Boolean(required=True, metadata={
        "description": "q < 0.05 and the effect is at least the material threshold"})
    extra = fields.Dict(allow_none=True)


class BiasRunSchema(Schema):
    id = fields.String(required=True, metadata={"example": "bias_…"})
    source = fields.String(required=True, validate=validate.OneOf(["probe", "monitor"]))
    model = fields.String(allow_none=True)
    job_id = fields.String(allow_none=True)
    status = fields.String(required=True)
    settings = fields.Dict(required=True)
    summary = fields.Dict(allow_none=True)
    window_start = fields.AwareDateTime(allow_none=True)
    window_end = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    findings = fields.List(fields.Nested(FindingSchema), required=True)


class BiasOverviewSchema(Schema):
    latest_probe_run = fields.Nested(BiasRunSchema, allow_none=True, required=True)
    latest_window = fields.Nested(BiasRunSchema, allow_none=True, required=True)
    runs = fields.List(fields.Nested(BiasRunSchema), required=True,
                       metadata={"description": "Probing runs and monitoring windows, newest first"})


class BiasOverviewQuerySchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_HISTORY))
