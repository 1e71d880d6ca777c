"""Receipt exports: a job writes every receipt of a range, with its proof, to a file.

Each JSONL line is a complete receipt bundle (receipt, inclusion proof, signed
checkpoint), so it verifies alone, and so does each CSV row (``csv_rows``); every
line is proven against the same checkpoint, the latest when the export ran. The
file is written under a temporary name and renamed when complete, so a partial
file is never served; a worker killed mid-export leaves the job running and its
redelivery starts the file over.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import storage.jobs as jobs_repo
import storage.receipts as receipts_repo
import storage.transparency_log as log_repo
from app.errors import InvalidRequest, NotFound
from app.healthcare import audit, csv_rows
from app.healthcare.proven import provable, proven_pages
from app.jobs import new_job, send_job
from storage.jobs import JobRecord

EXPORT_ACTOR = "healthcare_log.export_receipts"
EXPORT_KIND = "receipts_export"
FORMATS = ("jsonl", "csv")
MIMETYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


class ExportNotReady(NotFound):
    code = "export_not_ready"


@dataclass(frozen=True)
class ExportFile:
    path: Path
    mimetype: str
    download_name: str


def start_export(user_id: str, fmt: str, since: datetime | None, until: datetime | None) -> JobRecord:
    """A queued export job (capped like every job), handed to a worker by actor name."""
    if since and until and since >= until:
        raise InvalidRequest("since must be before until.", field="since")
    with new_job(user_id, EXPORT_KIND) as job:
        # Recorded before a worker can write the export: the request comes first in the trail.
        audit.record(audit.EXPORT_REQUESTED, audit.CREATE, account_id=user_id,
                     entity_type=audit.EXPORT, entity_id=job.id, detail={"format": fmt})
        send_job(job, EXPORT_ACTOR, fmt=fmt, since=since.isoformat() if since else None,
                 until=until.isoformat() if until else None)
    return job


def export_path(export_dir: str, job_id: str, fmt: str) -> Path:
    return Path(export_dir) / f"{job_id}.{fmt}"


def export_job(user_id: str, job_id: str) -> JobRecord:
    """The account's export job; another account's, or a job of another kind, is not found."""
    job = jobs_repo.get_for_user(user_id, job_id)
    if job.kind != EXPORT_KIND:
        raise ExportNotReady(f"Job {job_id} is not a receipt export.")
    return job


def finished_export(user_id: str, job_id: str, export_dir: str) -> ExportFile:
    """The file of a finished export (never a partial one); ExportNotReady before then."""
    job = export_job(user_id, job_id)
    if job.status != jobs_repo.SUCCEEDED:
        raise ExportNotReady(f"Export {job_id} has not finished; poll /api/jobs/{job_id}.")
    fmt = job.result["format"]
    audit.record(audit.EXPORT_DOWNLOADED, audit.READ, account_id=user_id, entity_type=audit.EXPORT,
                 entity_id=job_id, detail={"format": fmt})
    return ExportFile(export_path(export_dir, job_id, fmt).resolve(), MIMETYPES[fmt],
                      f"receipts-{job_id}.{fmt}")


def run(job_id: str, user_id: str, fmt: str, since: datetime | None, until: datetime | None,
        export_dir: str, prove) -> None:
    """Write the export and finish the job (``prove(indices, size)`` gives inclusion proofs)."""
    job = jobs_repo.mark_running(job_id)
    if job.finished:
        return
    checkpoint = log_repo.latest_checkpoint()
    where = provable(since, until, checkpoint)
    total = receipts_repo.count(user_id, where)
    final = export_path(export_dir, job_id, fmt)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_suffix(final.suffix + ".part")
    written = 0
    with open(partial, "w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            handle.write(csv_rows.header())
        for bundles in proven_pages(user_id, where, checkpoint, prove):
            for bundle in bundles:
                handle.write(csv_rows.row(bundle) if fmt == "csv"
                             else json.dumps(bundle, separators=(",", ":"), ensure_ascii=False) + "\n")
            written += len(bundles)
            jobs_repo.report_progress(job_id, done=written, total=max(total, written, 1))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    jobs_repo.succeed(job_id, {"format": fmt, "receipts": written,
                               "tree_size": checkpoint.size if checkpoint else 0,
                               "links": {"download": f"/api/health/receipts/export/{job_id}/download"}})
