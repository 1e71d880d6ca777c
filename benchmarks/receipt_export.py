"""A receipt export at scale: N receipts in the log, exported as JSONL, every line verified offline.

Fills a fresh database with N healthcare receipts (built and stored as the
gateway and the sequencer do), numbers them and signs a checkpoint, then runs the
export in a child process (its time and peak RSS are the figures), then checks
every line of the file with the offline verifier and the public key alone.

    python benchmarks/receipt_export.py --receipts 100000
    python benchmarks/receipt_export.py --database-url postgresql://postgres@127.0.0.1/aqta_bench
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import storage.jobs as jobs_repo  # noqa: E402
import storage.users as users_repo  # noqa: E402
from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.healthcare import exports, receipts  # noqa: E402
from app.healthcare.leaves import leaf_bytes  # noqa: E402
from app.healthcare.note import Verifier  # noqa: E402
from app.healthcare.sequencer import publish, store_leaves  # noqa: E402
from app.healthcare.transparency import transparency_log  # noqa: E402
from app.healthcare.verify import all_ok, verify_bundle  # noqa: E402
from providers.base import Usage  # noqa: E402
from storage.ids import utcnow  # noqa: E402
from storage.migrate import apply_migrations  # noqa: E402
from storage.records import ApiKeyRecord  # noqa: E402

BATCH = 5000


def _app(database_url: str, folder: Path):
    return create_app(Settings(database_url=database_url, secret_key="bench-secret-key-0123456789abcdef",
                               export_dir=str(folder / "exports"), log_journal_dir=str(folder / "journal"),
                               request_journal_dir=str(folder / "rjournal")))


def fill(database_url: str, folder: Path, count: int) -> str:
    app = _app(database_url, folder)
    with app.app_context():
        apply_migrations()
        user = users_repo.create(f"bench-{time.time_ns()}@example.com", None, "healthcare")
        key = ApiKeyRecord("key_bench", user.id, "bench", "sk-aqta-", "0000", "healthcare", utcnow(),
                           None, None)
        issuer = receipts.issuer()
        account_key = issuer.account_key(user.id)
        for start in range(0, count, BATCH):
            raw = [leaf_bytes(receipts.build(
                key=key, account_key=account_key, request_id=f"req_{start + n}", model="gpt-4o",
                provider="openai", created_at=utcnow(), status="ok", usage=Usage(120, 80),
                cost=Decimal("0.00123400"),
                request={"model": "gpt-4o", "messages": [{"role": "user", "content": f"note {start + n}"}]},
                answer={"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                     "finish_reason": "stop"}]}))
                for n in range(min(BATCH, count - start))]
            store_leaves(raw, lambda data, error: sys.exit(f"rejected: {error}"))
        publish()
        job = jobs_repo.create(user.id, exports.EXPORT_KIND)
        return json.dumps({"user_id": user.id, "job_id": job.id,
                           "keys": [str(v) for v in transparency_log().verifiers()]})


def export(database_url: str, folder: Path, user_id: str, job_id: str) -> None:
    app = _app(database_url, folder)
    with app.app_context():
        exports.run(job_id, user_id, "jsonl", None, None, str(folder / "exports"),
                    transparency_log().inclusion_many)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--phase", choices=["export"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--user-id", help=argparse.SUPPRESS)
    parser.add_argument("--job-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "export":
        export(args.database_url, Path(args.folder), args.user_id, args.job_id)
        return
    folder = Path(tempfile.mkdtemp(prefix="aqta-export-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'aqta.db'}"
    started = time.monotonic()
    made = json.loads(fill(url, folder, args.receipts))
    print(f"filled and sequenced {args.receipts} receipts in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    subprocess.run([sys.executable, __file__, "--phase", "export", "--database-url", url,
                    "--folder", str(folder), "--user-id", made["user_id"], "--job-id", made["job_id"]],
                   check=True)
    seconds = time.monotonic() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    path = exports.export_path(str(folder / "exports"), made["job_id"], "jsonl")
    print(f"export: {seconds:.1f} s, peak RSS {peak_mib:.0f} MiB, {path.stat().st_size / 2**20:.0f} MiB file")
    verifiers = [Verifier.parse(k) for k in made["keys"]]
    started, lines, failed = time.monotonic(), 0, 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            lines += 1
            failed += not all_ok(verify_bundle(json.loads(line), verifiers))
    print(f"offline verification: {lines - failed} of {lines} lines verified in "
          f"{time.monotonic() - started:.1f} s")
    sys.exit(1 if failed or lines != args.receipts else 0)


if __name__ == "__main__":
    main()
