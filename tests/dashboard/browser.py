"""The browser tests' tools: the app served for real, chromium through Playwright, axe-core.

Playwright drives the system's chromium (Debian's ``chromium`` package): its own
browser download cannot reach the internet here. Without that browser the tests
skip locally and fail in CI (``CI=true``).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import make_server

CHROMIUM = os.environ.get("AQTA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1, MPL-2.0
SCREENSHOTS = Path(__file__).parent / "screenshots"  # written by the tests, gitignored
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
BLOCKING_IMPACTS = ("serious", "critical")


class LiveServer:
    """The app on a free loopback port, served by werkzeug in a thread."""

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                         daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Violation:
    page: str
    rule: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        return f"{self.page}: {self.impact} {self.rule} ({self.help}) at {', '.join(self.targets)}"


def axe_violations(page, name: str) -> list[Violation]:
    """Run axe-core on the page as loaded; its serious and critical violations."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [Violation(name, found["id"], found["impact"], found["help"],
                      [" ".join(node["target"]) for node in found["nodes"]])
            for found in result["violations"] if found["impact"] in BLOCKING_IMPACTS]


def screenshot(page, viewport: str, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{viewport}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
