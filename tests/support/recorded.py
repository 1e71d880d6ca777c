"""Recorded upstream payloads under ``payloads/``, for table-driven translation tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from providers.sse import iter_sse

PAYLOADS = Path(__file__).resolve().parent.parent / "providers" / "payloads"


def load_json(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def load_events(name: str) -> list[tuple[str | None, str]]:
    """The server-sent events of a recorded stream, as ``HttpProvider.events`` yields them."""
    return list(iter_sse((PAYLOADS / name).read_bytes().splitlines()))
