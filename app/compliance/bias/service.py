"""What the bias detection routes (and the compliance report) call.

``start_probing`` queues a probing run; ``overview`` answers the latest findings and the
history; ``period_findings`` gives a period's runs and windows with their findings, for the
compliance report.
"""
from __future__ import annotations

import secrets
from datetime import datetime

import storage.bias as bias_repo
import storage.users as users_repo
from app.compliance.bias import probing, stats, vignettes
from app.compliance.bias.vignettes import ATTRIBUTES
from app.errors import InsufficientTier, InvalidRequest
from app.gateway.catalogue import gateway
from app.healthcare.receipts import HEALTHCARE_TIER
from app.jobs import JobQueueUnavailable, new_job, send_job
from storage.bias import MONITOR, PROBE, RunRecord
from storage.jobs import JobRecord
from storage.records import ApiKeyRecord

MIN_PAIRS, MAX_PAIRS = 10, 1000  # per comparison


def require_healthcare(user_id: str, tier: str | None = None) -> None:
    tier = tier or users_repo.get(user_id).tier
    if tier != HEALTHCARE_TIER:
        raise InsufficientTier(f"Bias detection needs the healthcare tier; this account is on "
                               f"the {tier} tier.")


def start_probing(key: ApiKeyRecord, model: str, *, attributes: list[str], pairs: int,
                  templates: list[dict] | None = None, domains: list[str] | None = None,
                  seed: int | None = None,
                  material: float = stats.DEFAULT_MATERIAL) -> tuple[RunRecord, JobRecord]:
    """A probing run of ``model``, billed to ``key``, queued as a job (202: poll the job)."""
    require_healthcare(key.user_id, key.tier)
    unknown = sorted(set(attributes) - set(ATTRIBUTES))
    if not attributes or unknown:
        raise InvalidRequest(f"attributes must name some of {list(ATTRIBUTES)}"
                             + (f"; {unknown} are not among them." if unknown else "."),
                             field="attributes")
    if not MIN_PAIRS <= pairs <= MAX_PAIRS:
        raise InvalidRequest(f"pairs must be from {MIN_PAIRS} to {MAX_PAIRS}.", field="pairs")
    gateway().route(model, key.tier)  # an unknown or forbidden model fails now, not in the job
    vignettes.choose(templates, domains, attributes)
    settings = {"attributes": [a for a in ATTRIBUTES if a in attributes], "pairs": pairs,
                "templates": templates, "domains": domains, "material": material,
                "seed": seed if seed is not None else secrets.randbelow(2**31)}
    with new_job(key.user_id, probing.PROBE_KIND) as job:  # first: a refused job leaves no run
        run = bias_repo.create_probe_run(key.user_id, model, settings, job.id)
        try:
            send_job(job, probing.PROBE_ACTOR, run_id=run.id, key_id=key.id)
        except JobQueueUnavailable:
            bias_repo.finish_run(run.id, "failed")  # its job never started: not queued for ever
            raise
    return run, job


def overview(user_id: str, limit: int) -> dict:
    """The latest probing run's and monitoring window's findings, and the history (newest
    first, at most ``limit`` runs and windows)."""
    latest = {source: next(iter(bias_repo.list_runs(user_id, 1, source=source)), None)
              for source in (PROBE, MONITOR)}
    return {"latest_probe_run": latest[PROBE], "latest_window": latest[MONITOR],
            "runs": bias_repo.list_runs(user_id, limit)}


def get_run(user_id: str, run_id: str) -> RunRecord:
    return bias_repo.get_run(user_id, run_id)


def period_findings(user_id: str, since: datetime, until: datetime) -> list[RunRecord]:
    """Every probing run and monitoring window the account started in [since, until), newest
    first, each with its findings (``flagged`` marks the ones that count as violations)."""
    return bias_repo.list_runs(user_id, 10_000, since=since, until=until)
