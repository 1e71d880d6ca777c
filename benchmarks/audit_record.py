"""What recording an audit event costs the action that records it, and reading a page of the trail.

Records N events (leaf + index row, one transaction each, as ``audit.record`` does on a
management route), sequences and signs them, then reads the trail a page of 50 at a time
with inclusion proofs, as ``GET /api/compliance/audit-trail`` does.

    python benchmarks/audit_record.py --events 2000
    python benchmarks/audit_record.py --database-url postgresql://postgres@127.0.0.1/aqta_bench
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import storage.users as users_repo  # noqa: E402
from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.healthcare import audit  # noqa: E402
from app.healthcare.audit_trail import audit_page  # noqa: E402
from app.healthcare.sequencer import publish  # noqa: E402
from storage.audit import AuditFilter  # noqa: E402
from storage.migrate import apply_migrations  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="aqta-audit-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'aqta.db'}"
    app = create_app(Settings(database_url=url, secret_key="bench-secret-key-0123456789abcdef",
                              log_journal_dir=str(folder / "journal"),
                              request_journal_dir=str(folder / "rjournal")))
    with app.app_context():
        apply_migrations()
        user = users_repo.create("bench@example.com", tier="healthcare")
        took = []
        for n in range(args.events):
            start = time.perf_counter()
            audit.record(audit.KEY_CREATED, audit.CREATE, account_id=user.id, entity_type=audit.API_KEY,
                         entity_id=f"key_{n}", actor=audit.Actor(audit.SYSTEM, "bench"))
            took.append(time.perf_counter() - start)
        publish()
        pages, cursor, start = 0, None, time.perf_counter()
        while True:
            page = audit_page(user.id, AuditFilter(), cursor, 50)
            pages, cursor = pages + 1, page.next_cursor
            if cursor is None:
                break
        paging = (time.perf_counter() - start) / pages
    took.sort()
    backend = url.split(":")[0]
    print(f"{args.events} events on {backend}: record() p50 {statistics.median(took) * 1e3:.2f} ms, "
          f"p95 {took[int(len(took) * 0.95)] * 1e3:.2f} ms; a page of 50 with proofs {paging * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
