"""The jobs repository: the first outcome stands, so retried actors are harmless."""
from __future__ import annotations

from decimal import Decimal

import pytest

import storage.jobs as jobs_repo


@pytest.fixture
def job(app, make_account):
    with app.app_context():
        yield jobs_repo.create(make_account().user.id, "compliance_report")


def test_a_new_job_is_queued_with_utc_times(job):
    assert job.id.startswith("job_") and job.status == "queued" and not job.finished
    assert job.created_at.utcoffset().total_seconds() == 0
    assert (job.progress, job.done, job.total, job.started_at) == (0.0, None, None, None)


def test_a_retry_keeps_the_first_start_time(job):
    first = jobs_repo.mark_running(job.id)
    again = jobs_repo.mark_running(job.id)
    assert again.status == "running" and again.started_at == first.started_at


def test_the_first_outcome_stands(job):
    jobs_repo.mark_running(job.id)
    done = jobs_repo.succeed(job.id, {"total_eur": Decimal("1.50")})
    assert done.result == {"total_eur": "1.50"} and done.finished
    assert jobs_repo.fail(job.id, "too late").status == "succeeded"
    assert jobs_repo.mark_running(job.id).status == "succeeded"  # a redelivered actor sees it is done
    jobs_repo.report_progress(job.id, fraction=0.1)
    assert jobs_repo.get(job.id).progress == 1.0


@pytest.mark.parametrize("progress, expected", [
    ({"fraction": 0.4}, (0.4, None, None)),
    ({"done": 3, "total": 4}, (0.75, 3, 4)),
    ({"done": 9, "total": 4}, (1.0, 9, 4)),
])
def test_progress_as_a_fraction_or_a_count(job, progress, expected):
    jobs_repo.report_progress(job.id, **progress)
    stored = jobs_repo.get(job.id)
    assert (stored.progress, stored.done, stored.total) == expected


@pytest.mark.parametrize("progress", [
    {}, {"fraction": 1.5}, {"fraction": -0.1}, {"done": 1}, {"done": 1, "total": 0},
    {"done": -1, "total": 3}, {"fraction": 0.5, "done": 1, "total": 2},
])
def test_bad_progress_is_refused(job, progress):
    with pytest.raises(ValueError):
        jobs_repo.report_progress(job.id, **progress)


def test_another_users_job_is_not_found(job, make_account):
    with pytest.raises(jobs_repo.JobNotFound):
        jobs_repo.get_for_user(make_account().user.id, job.id)
    assert jobs_repo.get_for_user(job.user_id, job.id) == job
