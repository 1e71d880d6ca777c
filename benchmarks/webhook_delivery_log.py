"""Webhook delivery against a flaky receiver: every attempt, as the owner and the receiver see it.

Builds the app on a throwaway SQLite database with the embedded worker, points an
endpoint at a loopback receiver that answers 503, then hangs past the timeout,
then 500, then 200, raises a ``loop.detected`` event, and prints the delivery log
from ``GET /api/webhooks/{id}/deliveries`` beside what the receiver got (each
delivery verified with the ``standardwebhooks`` package). The retry schedule is
the default one scaled down to seconds (``--schedule``).

    python benchmarks/webhook_delivery_log.py
    python benchmarks/webhook_delivery_log.py --schedule 1,3,6 --timeout 1
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import storage.keys as keys_repo  # noqa: E402
import storage.users as users_repo  # noqa: E402
from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.identity.api_keys import generate_key  # noqa: E402
from app.webhooks.events import EVENT_TYPES  # noqa: E402
from app.webhooks.service import emit  # noqa: E402
from storage.database import bind_database  # noqa: E402
from storage.migrate import apply_migrations  # noqa: E402
from tests.fakes.webhook_receiver import Answer, WebhookReceiver  # noqa: E402
from tests.support.webhooks import format_delivery_log  # noqa: E402
from workers import runtime  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", default="1,2,4,8", help="seconds between attempts")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds a receiver has to answer")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="aqta-webhooks-"))
    settings = Settings(database_url=f"sqlite:///{folder / 'aqta.db'}",
                        secret_key="demo-secret-key-0123456789",
                        request_journal_dir=str(folder / "journal"), run_embedded_worker=True,
                        log_level="WARNING",
                        webhook_allow_private=True, webhook_timeout_seconds=args.timeout,
                        webhook_lease_seconds=args.timeout + 5,
                        webhook_retry_schedule=tuple(float(s) for s in args.schedule.split(",")))
    receiver = WebhookReceiver().start()
    receiver.answer_next(Answer(503))
    receiver.answer_next(Answer(200, hang=args.timeout + 0.5))
    receiver.answer_next(Answer(500))
    bind_database(settings.database_url)
    apply_migrations()  # before the embedded worker starts its periodic actors
    app = create_app(settings)
    runtime.init_app(app)
    logging.getLogger("app.webhooks.delivery").setLevel(logging.INFO)  # the worker's line per attempt
    try:
        with app.app_context():
            user = users_repo.create("demo@example.com", None, "pro")
            new = generate_key()
            keys_repo.create(user.id, "demo", new.key_hash, new.prefix, new.last_four, scope="admin")
        client, headers = app.test_client(), {"Authorization": f"Bearer {new.plaintext}"}
        endpoint = client.post("/api/webhooks", json={"url": receiver.url, "event_types": ["loop.detected"]},
                               headers=headers).json
        receiver.secrets["whsec"] = endpoint["secret"]
        with app.app_context():
            event_id = emit("loop.detected", user.id, {**EVENT_TYPES["loop.detected"].example,
                                                       "key_id": "key_demo"})
        print(f"emitted {event_id}; endpoint {endpoint['id']} -> {receiver.url}\n")
        deadline = time.monotonic() + 120
        while True:
            listed = client.get(f"/api/webhooks/{endpoint['id']}/deliveries", headers=headers)
            [delivery] = listed.json["data"]
            if delivery["status"] != "pending" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        print("owner's view (GET /api/webhooks/{id}/deliveries):")
        print(format_delivery_log(delivery))
        print("\nreceiver's view:")
        for number, got in enumerate(receiver.received, 1):
            print(f"  #{number} webhook-id {got.webhook_id}  "
                  f"webhook-timestamp {got.headers['webhook-timestamp']}  "
                  f"verified: {'yes' if got.verified_by else 'NO'}  answered: {got.answered or 'hung'}")
        ok = delivery["status"] == "succeeded" and all(r.verified_by for r in receiver.received)
        return 0 if ok else 1
    finally:
        runtime.stop(drain_seconds=0)
        receiver.stop()


if __name__ == "__main__":
    sys.exit(main())
