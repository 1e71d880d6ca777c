"""Run the embedded worker under gevent, as ``aqta serve`` does; print how two jobs ended.

``python -m tests.workers.gevent_embedded DATABASE_URL`` (the database migrated):
one job that succeeds, one that its time limit interrupts.
"""
from gevent import monkey

monkey.patch_all()  # first, as gunicorn's gevent worker does before it loads the app

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import storage.jobs as jobs_repo  # noqa: E402
import storage.users as users_repo  # noqa: E402
from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from tests.workers import sample_actors  # noqa: E402
from workers import runtime  # noqa: E402

DEADLINE_SECONDS = 30


def main(database_url: str) -> None:
    settings = Settings(database_url=database_url, secret_key="gevent-test-secret-key-0123456789",
                        run_embedded_worker=True)
    app = create_app(settings)
    runtime.init_app(app)
    with app.app_context():
        user = users_repo.create(f"gevent-{uuid.uuid4().hex}@example.com", None, "free")
        echo, slow = jobs_repo.create(user.id, "echo"), jobs_repo.create(user.id, "slow")
    sample_actors.echo.send("under gevent", job_id=echo.id)
    sample_actors.too_slow.send(job_id=slow.id)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        with app.app_context():
            jobs = [jobs_repo.get(echo.id), jobs_repo.get(slow.id)]
        if all(job.finished for job in jobs):
            break
        time.sleep(0.05)
    runtime.stop(drain_seconds=0)
    print(json.dumps({"threading_patched": monkey.is_module_patched("threading"),
                      "jobs": [{"status": job.status, "error": job.error} for job in jobs]}))


if __name__ == "__main__":
    main(sys.argv[1])
