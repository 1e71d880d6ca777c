"""The jobs repository: long-running work, its progress and its outcome.

The web layer creates a job (``queued``) and hands its id to an actor, which
marks it running, reports progress, and ends it with a result or an error. The
first outcome stands: a retried or redelivered actor cannot undo a finished job,
and ``mark_running`` returns the job so the actor can see it is already done.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from storage.account_lock import capped
from storage.errors import RecordNotFound
from storage.ids import new_id, utcnow
from storage.job_models import Job

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED)
_ACTIVE = (QUEUED, RUNNING)


class JobNotFound(RecordNotFound):
    code = "job_not_found"

    def __init__(self, job_id: str):
        super().__init__(f"No job {job_id}.")
        self.job_id = job_id


@dataclass(frozen=True)
class JobRecord:
    id: str
    user_id: str
    kind: str
    status: str  # queued, running, succeeded, failed
    progress: float  # 0..1
    done: int | None  # units of work done, when the job counts them
    total: int | None
    result: dict | None  # links to the output go under result["links"]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)


def _record(job: Job) -> JobRecord:
    return JobRecord(id=job.id, user_id=job.user_id, kind=job.kind, status=job.status,
                     progress=job.progress, done=job.done, total=job.total,
                     result=json.loads(job.result) if job.result is not None else None,
                     error=job.error, created_at=job.created_at, started_at=job.started_at,
                     finished_at=job.finished_at)


def create(user_id: str, kind: str, *, limit: int | None = None) -> JobRecord:
    """A new queued job of ``user_id``'s; send its id to the actor that does it.

    LimitReached when the account has ``limit`` jobs queued or running already (race-free).
    """
    def insert() -> JobRecord:
        return _record(Job.create(id=new_id("job"), user=user_id, kind=kind, status=QUEUED,
                                  created_at=utcnow()))

    if limit is None:
        return insert()
    return capped(user_id, lambda: count_active(user_id), limit, insert)


def count_active(user_id: str) -> int:
    return Job.select().where((Job.user == user_id) & Job.status.in_(_ACTIVE)).count()


def get(job_id: str) -> JobRecord:
    """Any user's job (for actors); the web layer uses ``get_for_user``."""
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise JobNotFound(job_id)
    return _record(job)


def get_for_user(user_id: str, job_id: str) -> JobRecord:
    """A job of this user's; another user's job is simply not found."""
    job = Job.get_or_none((Job.id == job_id) & (Job.user == user_id))
    if job is None:
        raise JobNotFound(job_id)
    return _record(job)


def _update_active(job_id: str, **changes) -> None:
    Job.update(**changes).where((Job.id == job_id) & Job.status.in_(_ACTIVE)).execute()


def mark_running(job_id: str) -> JobRecord:
    """Mark the job running (its start time is kept on a retry); a finished job is left as is."""
    _update_active(job_id, status=RUNNING)
    Job.update(started_at=utcnow()).where((Job.id == job_id) & Job.started_at.is_null()).execute()
    return get(job_id)


def report_progress(job_id: str, *, done: int | None = None, total: int | None = None,
                    fraction: float | None = None) -> None:
    """Record progress as ``done`` of ``total`` units, or as a ``fraction`` from 0 to 1."""
    if fraction is not None and done is None and total is None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction {fraction} is not between 0 and 1")
        _update_active(job_id, progress=fraction, done=None, total=None)
        return
    if fraction is not None or done is None or total is None or not 0 <= done or not 0 < total:
        raise ValueError("give done (>= 0) and total (> 0), or fraction alone")
    _update_active(job_id, progress=min(1.0, done / total), done=done, total=total)


def succeed(job_id: str, result: dict | None = None) -> JobRecord:
    """End the job with ``result`` (a JSON object; Decimals become strings)."""
    encoded = json.dumps(result, default=str) if result is not None else None
    _update_active(job_id, status=SUCCEEDED, progress=1.0, done=Job.total, result=encoded,
                   finished_at=utcnow())
    return get(job_id)


def fail(job_id: str, error: str) -> JobRecord:
    """End the job with ``error``, a message its owner reads."""
    _update_active(job_id, status=FAILED, error=error, finished_at=utcnow())
    return get(job_id)
