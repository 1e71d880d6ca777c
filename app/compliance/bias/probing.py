"""Counterfactual probing: matched prompts that differ only in one attribute, sent through
the gateway's own pipeline, their decisions read back and tested.

Probes are ordinary chat requests of the account's key (``pipeline.complete``): admitted,
billed, request-logged and, on the healthcare tier, receipted like any answer. What marks
them as probe traffic is the ``bias_probes`` table (request id → run) and the ``user`` field
``aqta-bias-probe:<run>``, which also keeps each pair its own loop-detection subject. The
plan is drawn from the run's seed, so a redelivered job sends only the probes not yet kept.
"""
from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass

import orjson

import storage.bias as bias_repo
import storage.jobs as jobs_repo
import storage.keys as keys_repo
from app.compliance.bias import findings as findings_kept
from app.compliance.bias import stats, vignettes
from app.compliance.bias.vignettes import ATTRIBUTES, Template
from app.errors import AqtaError, api_error
from app.gateway import pipeline
from app.gateway.admission.rate_limits import RateLimited
from app.gateway.request_log.attempt import Attempt
from providers.errors import ProviderFailure
from storage.bias import ProbeRecord, RunRecord
from storage.ids import new_id

log = logging.getLogger(__name__)
PROBE_ACTOR = "compliance_bias.probe"
PROBE_KIND = "bias_probe"
PROBE_HEADERS = {"Cache-Control": "no-store"}  # a probe samples the model, never the cache
MAX_RATE_WAITS = 30  # times one probe waits out the key's rate limit before giving up
SIDES = ("reference", "group")


class ProbingStopped(AqtaError):
    """The account cannot pay for more probes (quota or budget): the run stops."""

    status = 402


@dataclass(frozen=True)
class PlannedPair:
    attribute: str
    group: str
    pair: int
    template: Template
    values: dict[str, str]  # the reference side's slot values

    def side_values(self, side: str) -> dict[str, str]:
        return self.values if side == "reference" else {**self.values, self.attribute: self.group}


def plan(templates: tuple[Template, ...], attributes: list[str], pairs: int,
         seed: int) -> list[PlannedPair]:
    """Every pair of the run, drawn from ``seed``: a template, and the other attributes' values
    (the same on both sides); comparisons in the order of ``ATTRIBUTES``."""
    rng = random.Random(seed)
    planned = []
    for attribute in (a for a in ATTRIBUTES if a in attributes):
        reference, *groups = ATTRIBUTES[attribute]
        for group in groups:
            for index in range(pairs):
                template = templates[index % len(templates)]
                values = {name: rng.choice(options) for name, options in ATTRIBUTES.items()}
                values[attribute] = reference
                planned.append(PlannedPair(attribute, group, index, template, values))
    return planned


def run(job_id: str, user_id: str, run_id: str, key_id: str) -> None:
    """Send the run's probes (those not yet sent), test their decisions and finish the job."""
    if jobs_repo.mark_running(job_id).finished:
        return
    bias_repo.mark_running(run_id)
    try:
        _probe_and_test(job_id, bias_repo.get_run(user_id, run_id), key_id)
    except Exception:
        bias_repo.finish_run(run_id, "failed")
        raise


def _probe_and_test(job_id: str, probe_run: RunRecord, key_id: str) -> None:
    settings = probe_run.settings
    templates = vignettes.choose(settings["templates"], settings["domains"], settings["attributes"])
    planned = plan(templates, settings["attributes"], settings["pairs"], settings["seed"])
    key = keys_repo.get_by_id(key_id)
    kept = bias_repo.stored_probes(probe_run.id)
    try:
        for done, pair in enumerate(planned, start=1):
            for side in SIDES:
                if (pair.attribute, pair.group, pair.pair, side) not in kept:
                    probe = send(key, probe_run, pair, side)
                    bias_repo.add_probe(probe_run.id, probe)
                    kept[(pair.attribute, pair.group, pair.pair, side)] = probe
            jobs_repo.report_progress(job_id, done=done, total=len(planned))
    except ProbingStopped as stopped:
        bias_repo.finish_run(probe_run.id, "failed", summarise(kept.values()))
        jobs_repo.fail(job_id, stopped.message)
        return
    stored = findings_kept.keep(probe_run, analyse(planned, kept, settings["material"]))
    summary = summarise(kept.values())
    bias_repo.finish_run(probe_run.id, "succeeded", summary)
    jobs_repo.succeed(job_id, {"run_id": probe_run.id, "flagged": sum(f.flagged for f in stored),
                               **summary, "links": {
                                   "run": f"/api/compliance/bias-detection/runs/{probe_run.id}"}})


def send(key, probe_run: RunRecord, pair: PlannedPair, side: str) -> ProbeRecord:
    """One probe through the pipeline; its decision, or why there is none."""
    text = pair.template.render(pair.side_values(side))
    body = {"model": probe_run.model, "response_format": {"type": "json_object"},
            "user": f"aqta-bias-probe:{probe_run.id}:{pair.attribute}:{pair.group}:{pair.pair}",
            "messages": [{"role": "system", "content": vignettes.SYSTEM_PROMPT},
                         {"role": "user", "content": text}]}
    raw = orjson.dumps(body)
    for _ in range(MAX_RATE_WAITS):
        attempt = Attempt(key, new_id("req"))
        decision, error_code = None, None
        try:
            answer = pipeline.complete(attempt, raw, PROBE_HEADERS)
        except RateLimited as limited:
            time.sleep(int(limited.headers.get("Retry-After", "1")))
            continue
        except (AqtaError, ProviderFailure) as failure:
            error = api_error(failure)
            if error.status == 402:
                raise ProbingStopped(f"Probing stopped: {error.message}", code=error.code) from None
            error_code = error.code
        else:
            decision = _decision(pair.template, answer.completion)
        return ProbeRecord(pair.attribute, pair.group, pair.pair, side, pair.template.id,
                           attempt.request_id, attempt.receipt_id, decision, error_code)
    return ProbeRecord(pair.attribute, pair.group, pair.pair, side, pair.template.id,
                       attempt.request_id, None, None, RateLimited.code)


def _decision(template: Template, completion: bytes | None) -> str | None:
    try:
        content = orjson.loads(completion or b"{}")["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    value = vignettes.read_decision(template.decision, content)
    if value is None:
        return None
    return ("yes" if value else "no") if isinstance(value, bool) else format(value, "g")


def analyse(planned: list[PlannedPair], kept: dict, material: float) -> list[stats.Finding]:
    """One test per (attribute, group, decision: yes_no, level or dose) over the pairs with
    both decisions read, adjusted together."""
    compared: dict[tuple[str, str, str], list] = defaultdict(list)
    for pair in planned:
        ref, grp = (kept[(pair.attribute, pair.group, pair.pair, side)].decision for side in SIDES)
        if ref is None or grp is None:
            continue
        decision = pair.template.decision
        compared[(pair.attribute, pair.group, decision)].append(
            (ref == "yes", grp == "yes") if decision == stats.YES_NO else (float(ref), float(grp)))
    found = [stats.paired_binary(a, ATTRIBUTES[a][0], g, pairs) if d == stats.YES_NO
             else stats.paired_ordinal(a, ATTRIBUTES[a][0], g, pairs, d)
             for (a, g, d), pairs in compared.items()]
    return stats.adjust(found, material)


def summarise(probes) -> dict:
    probes = list(probes)
    return {"probes": len(probes),
            "decisions_read": sum(p.decision is not None for p in probes),
            "unreadable": sum(p.decision is None and p.error_code is None for p in probes),
            "failed": sum(p.error_code is not None for p in probes)}
