"""A report as a job: queued by the API, built and written by a worker, then downloaded.

Like receipt exports (``app.healthcare.exports``): the file is written under a
temporary name and renamed when complete, so a partial report is never served,
and a redelivered job writes it over.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import storage.costs as costs_repo
import storage.jobs as jobs_repo
from app.compliance.reports.model import Period, Scope
from app.compliance.reports.period import report_period
from app.compliance.reports.sections import build_report
from app.errors import InsufficientTier, NotFound
from app.healthcare import audit
from app.jobs import new_job, send_job
from storage.jobs import JobRecord

REPORT_ACTOR = "compliance.report"
REPORT_KIND = "compliance_report"
HEALTHCARE_TIER = "healthcare"
MEDIA_TYPES = {"json": "application/json", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}
FORMATS = tuple(MEDIA_TYPES)


class ReportNotReady(NotFound):
    code = "report_not_ready"


@dataclass(frozen=True)
class ReportFile:
    path: Path
    mimetype: str
    download_name: str


def require_healthcare(tier: str) -> None:
    if tier != HEALTHCARE_TIER:
        raise InsufficientTier(f"Compliance reports need the healthcare tier; this account is on "
                               f"the {tier} tier.")


def start_report(user_id: str, tier: str, fmt: str, month: str | None, since: datetime | None,
                 until: datetime | None) -> JobRecord:
    """A queued report job of a month or of since/until (capped like every job), handed to a
    worker by actor name; InsufficientTier below the healthcare tier, before the period is read."""
    require_healthcare(tier)
    period = report_period(month, since, until)
    bounds = {"since": period.since.isoformat(), "until": period.until.isoformat()}
    with new_job(user_id, REPORT_KIND) as job:
        # Recorded before a worker can build the report, so the report counts its own request.
        audit.record(audit.REPORT_REQUESTED, audit.CREATE, account_id=user_id,
                     entity_type=audit.REPORT, entity_id=job.id, detail={"format": fmt, **bounds})
        send_job(job, REPORT_ACTOR, tier=tier, fmt=fmt, **bounds)
    return job


def report_path(output_dir: str, job_id: str, fmt: str) -> Path:
    return Path(output_dir) / f"{job_id}.report.{fmt}"


def download_link(job_id: str) -> str:
    return f"/api/compliance/report/{job_id}/download"


def finished_report(user_id: str, job_id: str, output_dir: str) -> ReportFile:
    """The file of the account's finished report; ReportNotReady (404) for anything else."""
    job = jobs_repo.get_for_user(user_id, job_id)
    if job.kind != REPORT_KIND:
        raise ReportNotReady(f"Job {job_id} is not a compliance report.")
    if job.status != jobs_repo.SUCCEEDED:
        raise ReportNotReady(f"Report {job_id} has not finished; poll /api/jobs/{job_id}.")
    fmt = job.result["format"]
    audit.record(audit.REPORT_DOWNLOADED, audit.READ, account_id=user_id, entity_type=audit.REPORT,
                 entity_id=job_id, detail={"format": fmt})
    return ReportFile(report_path(output_dir, job_id, fmt).resolve(), MEDIA_TYPES[fmt],
                      f"compliance-report-{job.result['period']['since']}-{job_id}.{fmt}")


def run(job_id: str, user_id: str, tier: str, fmt: str, since: date, until: date, output_dir: str) -> None:
    """Build the report from current figures, write it in ``fmt``, finish the job and record
    the report's generation (with the file's SHA-256) in the audit trail."""
    # Imported here, in the worker that writes reports: the renderers load reportlab, which the
    # web processes (that only queue and serve reports) would otherwise carry for nothing.
    from app.compliance.reports.rendering import render

    job = jobs_repo.mark_running(job_id)
    if job.finished:
        return
    costs_repo.aggregate(user_id=user_id)  # the account's cost figures as of now
    report = build_report(Scope(user_id, tier, Period(since, until)))
    content = render(fmt, report)
    final = report_path(output_dir, job_id, fmt)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_suffix(final.suffix + ".part")
    with open(partial, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    digest = hashlib.sha256(content).hexdigest()
    period = {"since": since.isoformat(), "until": until.isoformat()}
    jobs_repo.succeed(job_id, {"format": fmt, "period": period, "sha256": digest,
                               "empty": report.empty, "sections": [s.key for s in report.sections],
                               "links": {"download": download_link(job_id)}})
    audit.record(audit.REPORT_GENERATED, audit.CREATE, account_id=user_id, entity_type=audit.REPORT,
                 entity_id=job_id, actor=audit.Actor(audit.SYSTEM, REPORT_ACTOR),
                 detail={"format": fmt, **period, "sha256": digest})
