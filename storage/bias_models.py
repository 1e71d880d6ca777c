"""Bias detection's tables: runs (probing runs and monitoring windows), their findings, the
probes a run sent, and the demographic decisions monitoring counts. No patient text: probes
keep a template id and the decision read, observations an attribute group and a decision."""
from __future__ import annotations

import peewee

from storage.models import BaseModel, User, UtcDateTimeField


class BiasRun(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    user = peewee.ForeignKeyField(User, backref="bias_runs", on_delete="CASCADE")
    source = peewee.CharField(max_length=20)  # probe or monitor
    model = peewee.CharField(max_length=120, null=True)  # the model probed (probe runs)
    job_id = peewee.CharField(max_length=40, null=True)
    status = peewee.CharField(max_length=20)  # queued, running, succeeded, failed
    settings = peewee.TextField()  # JSON: attributes, pairs, templates, threshold, seed
    summary = peewee.TextField(null=True)  # JSON: probes sent, decisions read, failures
    window_start = UtcDateTimeField(null=True)  # monitoring windows: [start, end)
    window_end = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField()
    finished_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "bias_runs"
        indexes = ((("user", "created_at"), False), (("user", "source", "window_start"), True))


class BiasFinding(BaseModel):
    id = peewee.CharField(max_length=40, primary_key=True)
    run = peewee.ForeignKeyField(BiasRun, backref="findings", on_delete="CASCADE")
    user_id = peewee.CharField(max_length=40)
    attribute = peewee.CharField(max_length=40)
    reference = peewee.CharField(max_length=64)
    group_name = peewee.CharField(max_length=64)
    kind = peewee.CharField(max_length=20)  # yes_no, level, dose (probing) or parity (monitoring)
    test = peewee.CharField(max_length=40)
    n = peewee.IntegerField()
    rates = peewee.TextField()  # JSON: group -> rate
    effect_name = peewee.CharField(max_length=40)
    effect = peewee.DoubleField()
    low = peewee.DoubleField()
    high = peewee.DoubleField()
    p = peewee.DoubleField()
    q = peewee.DoubleField()
    flagged = peewee.BooleanField()
    extra = peewee.TextField(null=True)  # JSON
    created_at = UtcDateTimeField()
    notified_at = UtcDateTimeField(null=True)  # when its compliance.violation was raised

    class Meta:
        table_name = "bias_findings"
        indexes = ((("user_id", "created_at"), False),
                   (("run", "attribute", "group_name", "kind"), True))


class BiasProbe(BaseModel):
    """One probe request of a run: which comparison, pair and side it was, and what it decided."""

    run = peewee.ForeignKeyField(BiasRun, backref="probes", on_delete="CASCADE")
    attribute = peewee.CharField(max_length=40)
    group_name = peewee.CharField(max_length=64)
    pair = peewee.IntegerField()
    side = peewee.CharField(max_length=10)  # reference or group
    template_id = peewee.CharField(max_length=64)
    request_id = peewee.CharField(max_length=40)  # its row in the request log
    receipt_id = peewee.CharField(max_length=40, null=True)
    decision = peewee.CharField(max_length=40, null=True)  # None: no readable decision
    error_code = peewee.CharField(max_length=60, null=True)

    class Meta:
        table_name = "bias_probes"
        indexes = ((("run", "attribute", "group_name", "pair", "side"), True),
                   (("request_id",), False))


class BiasObservation(BaseModel):
    """A production decision of a request that declared a demographic group (monitoring)."""

    request_id = peewee.CharField(max_length=40)
    attribute = peewee.CharField(max_length=40)
    user_id = peewee.CharField(max_length=40)
    group_name = peewee.CharField(max_length=64)
    decision = peewee.CharField(max_length=40)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "bias_observations"
        primary_key = peewee.CompositeKey("request_id", "attribute")
        indexes = ((("user_id", "created_at"), False), (("created_at",), False))
