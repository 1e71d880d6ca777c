"""A compliance report at scale: N receipts in the period, each verified, rendered as PDF.

Fills a fresh database with N healthcare receipts (``receipt_export.fill``: built
and stored as the gateway and the sequencer do, one checkpoint signed), then
builds this month's report in a child process in each format; its time and
peak RSS are the figures.

    python benchmarks/compliance_report.py --receipts 20000
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import storage.jobs as jobs_repo  # noqa: E402
from app.compliance.reports import jobs as reports  # noqa: E402
from app.compliance.reports.period import month_period  # noqa: E402
from benchmarks.receipt_export import _app, fill  # noqa: E402
from storage.ids import utcnow  # noqa: E402


def report(database_url: str, folder: Path, user_id: str, fmt: str) -> None:
    app = _app(database_url, folder)
    with app.app_context():
        job = jobs_repo.create(user_id, reports.REPORT_KIND)
        period = month_period(utcnow().strftime("%Y-%m"))
        reports.run(job.id, user_id, "healthcare", fmt, period.since, period.until, str(folder / "exports"))
        result = jobs_repo.get(job.id).result
        figures = json.loads(reports.report_path(str(folder / "exports"), job.id, "json").read_text())[
            "sections"][1]["figures"] if fmt == "json" else None
        print(json.dumps({"result": result, "receipts": figures}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--user-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        report(args.database_url, Path(args.folder), args.user_id, args.phase)
        return
    folder = Path(tempfile.mkdtemp(prefix="aqta-report-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'aqta.db'}"
    started = time.monotonic()
    made = json.loads(fill(url, folder, args.receipts))
    print(f"filled and sequenced {args.receipts} receipts in {time.monotonic() - started:.1f} s")
    for fmt in reports.FORMATS:
        started, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run([sys.executable, __file__, "--phase", fmt, "--database-url", url,
                              "--folder", str(folder), "--user-id", made["user_id"]],
                             check=True, capture_output=True, text=True)
        seconds, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        peak_mib = after.ru_maxrss / 1024
        out = json.loads(run.stdout.splitlines()[-1])
        print(f"{fmt}: {seconds:.1f} s wall, {cpu:.1f} s CPU (a child process, start-up included), "
              f"peak RSS so far {peak_mib:.0f} MiB"
              + (f", receipts {out['receipts']}" if out["receipts"] else ""))


if __name__ == "__main__":
    main()
