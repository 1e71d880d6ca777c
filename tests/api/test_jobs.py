"""GET /api/jobs/{job_id}: the owner alone sees a job's status, progress and outcome."""
from __future__ import annotations

import storage.jobs as jobs_repo
from tests.conftest import PASSWORD


def make_job(app, user_id: str, kind: str = "receipts_export"):
    with app.app_context():
        return jobs_repo.create(user_id, kind)


def test_the_owner_follows_a_job_from_queued_to_succeeded(app, client, make_account):
    owner = make_account()
    job = make_job(app, owner.user.id)
    queued = client.get(f"/api/jobs/{job.id}", headers=owner.headers)
    assert queued.status_code == 200
    assert queued.json["id"].startswith("job_") and queued.json["kind"] == "receipts_export"
    assert (queued.json["status"], queued.json["progress"]) == ("queued", 0.0)
    assert queued.json["started_at"] is None and queued.json["result"] is None

    with app.app_context():
        jobs_repo.mark_running(job.id)
        jobs_repo.report_progress(job.id, done=30, total=120)
    running = client.get(f"/api/jobs/{job.id}", headers=owner.headers).json
    assert (running["status"], running["progress"], running["done"], running["total"]) == \
        ("running", 0.25, 30, 120)
    assert running["started_at"] is not None and running["finished_at"] is None

    link = {"download": "/api/receipts/exports/x.jsonl"}
    with app.app_context():
        jobs_repo.succeed(job.id, {"receipts": 120, "links": link})
    done = client.get(f"/api/jobs/{job.id}", headers=owner.headers).json
    assert (done["status"], done["progress"], done["done"]) == ("succeeded", 1.0, 120)
    assert done["result"] == {"receipts": 120, "links": link}
    assert done["error"] is None and done["finished_at"].endswith("+00:00")


def test_a_failed_job_shows_its_error(app, client, make_account):
    owner = make_account()
    job = make_job(app, owner.user.id)
    with app.app_context():
        jobs_repo.mark_running(job.id)
        jobs_repo.fail(job.id, "The export found no receipts in that period.")
    shown = client.get(f"/api/jobs/{job.id}", headers=owner.headers).json
    assert shown["status"] == "failed"
    assert shown["error"] == "The export found no receipts in that period."


def test_a_session_works_too(app, client, make_account):
    owner = make_account(email="owner@example.com")
    job = make_job(app, owner.user.id)
    assert client.post("/api/auth/login", json={"email": "owner@example.com",
                                                "password": PASSWORD}).status_code == 200
    assert client.get(f"/api/jobs/{job.id}").json["id"] == job.id


def test_another_users_job_is_not_found(app, client, make_account):
    owner, stranger = make_account(), make_account()
    job = make_job(app, owner.user.id)
    for job_id in (job.id, "job_missing"):
        refused = client.get(f"/api/jobs/{job_id}", headers=stranger.headers)
        assert refused.status_code == 404
        assert refused.json["error"]["code"] == "job_not_found"


def test_without_credentials_it_is_401(app, client, make_account):
    job = make_job(app, make_account().user.id)
    assert client.get(f"/api/jobs/{job.id}").status_code == 401


def test_the_route_is_documented_with_its_schema(client):
    spec = client.get("/openapi.json").json
    operation = spec["paths"]["/api/jobs/{job_id}"]["get"]
    assert {"bearerAuth": []} in operation["security"]
    assert {"200", "401", "404"} <= set(operation["responses"])
    schema = spec["components"]["schemas"]["Job"]
    assert {"status", "progress", "result", "error", "created_at"} <= set(schema["properties"])
