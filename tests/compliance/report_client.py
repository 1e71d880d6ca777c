"""Asking for a compliance report through HTTP and reading it back: shared by the report tests."""
from __future__ import annotations

import io
import shutil
import subprocess

from pypdf import PdfReader

from tests.conftest import unavailable
from tests.support import wait_for


def download_report(client, account, fmt: str, **period) -> bytes:
    """Ask for a report, wait for its job and download it."""
    response = client.post("/api/compliance/report", headers=account.headers, json={"format": fmt, **period})
    assert response.status_code == 202, response.get_json()
    job_url = response.headers["Location"]
    job = wait_for(lambda: (j := client.get(job_url, headers=account.headers).get_json())["status"]
                   in ("succeeded", "failed") and j, "the report job")
    assert job["status"] == "succeeded", job
    assert job["kind"] == "compliance_report"
    download = client.get(job["result"]["links"]["download"], headers=account.headers)
    assert download.status_code == 200
    return download.get_data()


def section(report_json: dict, key: str) -> dict:
    return next(s for s in report_json["sections"] if s["key"] == key)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def renders_to_png(pdf: bytes, tmp_path, first_page: int = 1, last_page: int = 1) -> bytes:
    """The first page asked for, as PNG (pdftoppm)."""
    if not shutil.which("pdftoppm"):
        unavailable("pdftoppm", FileNotFoundError("apt-get install poppler-utils"))  # fails in CI
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", str(first_page), "-l", str(last_page),
                    str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True, timeout=60)
    return sorted(tmp_path.glob("page*.png"))[0].read_bytes()
