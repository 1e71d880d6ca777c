"""Jobs: the status, progress and result of long-running work. Callers see only their own."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

import storage.jobs as jobs_repo
from app.api.schemas import AUTHENTICATED
from app.authn import current_principal, login_required
from app.errors import Conflict
from storage.account_lock import LimitReached

MAX_ACTIVE_JOBS = 10  # jobs queued or running per account

blp = Blueprint("jobs", __name__, url_prefix="/api/jobs",
                description="Long-running jobs: poll one until it has succeeded or failed")


class JobSchema(Schema):
    id = fields.String(required=True, metadata={"example": "job_…"})
    kind = fields.String(required=True, metadata={"description": "What the job does"})
    status = fields.String(required=True, validate=validate.OneOf(jobs_repo.STATUSES))
    progress = fields.Float(required=True, validate=validate.Range(min=0, max=1),
                            metadata={"description": "From 0 to 1"})
    done = fields.Integer(allow_none=True, metadata={"description": "Units of work done, when counted"})
    total = fields.Integer(allow_none=True, metadata={"description": "Units of work in all, when known"})
    result = fields.Dict(allow_none=True, metadata={
        "description": "The outcome once succeeded; links to the output are under 'links'"})
    error = fields.String(allow_none=True, metadata={"description": "Why it failed"})
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)


def start_job(user_id: str, kind: str) -> jobs_repo.JobRecord:
    """A new queued job, unless the account has MAX_ACTIVE_JOBS unfinished (409 too_many_jobs)."""
    try:
        return jobs_repo.create(user_id, kind, limit=MAX_ACTIVE_JOBS)
    except LimitReached:
        raise Conflict(f"An account may have at most {MAX_ACTIVE_JOBS} jobs queued or running; "
                       "wait for one to finish.", code="too_many_jobs") from None


@blp.route("/<string:job_id>")
@blp.response(200, JobSchema)
@blp.alt_response(401, description="Not authenticated")
@blp.alt_response(404, description="No such job of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def get_job(job_id):
    """A job's status, progress and, once finished, its result or error."""
    return jobs_repo.get_for_user(current_principal().user_id, job_id)
