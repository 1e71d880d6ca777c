"""Compliance fixtures: the healthcare ones (a healthcare account, chat, the sequencer)."""
from __future__ import annotations

from tests.healthcare.conftest import chat, healthcare, sequence, settings  # noqa: F401
