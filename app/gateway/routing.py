"""The model registry: which provider serves a model name, and which tier may use it.

Loaded from ``data/models.json`` (or the operator's ``AQTA_MODELS_FILE``). A name
ending in ``*`` matches any suffix (``mock-*``). Clients may also name the
provider explicitly: ``anthropic/claude-sonnet-4-0``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.errors import AqtaError

DEFAULT_MODELS_FILE = Path(__file__).parent / "data" / "models.json"


class ModelNotFound(AqtaError):
    status = 404
    code = "model_not_found"

    def __init__(self, model: str):
        super().__init__(f"The model '{model}' does not exist on this gateway; "
                         "GET /v1/models lists the models your key may use.")
        self.model = model


@dataclass(frozen=True)
class ModelEntry:
    id: str  # as listed; may end in '*'
    provider: str
    cheap: bool

    def matches(self, name: str) -> bool:
        if self.id.endswith("*"):
            return name.startswith(self.id[:-1]) and len(name) > len(self.id) - 1
        return name == self.id


@dataclass(frozen=True)
class Route:
    model: str  # the name without a provider prefix, as the upstream knows it
    provider: str
    entry: ModelEntry


class ModelRegistry:
    def __init__(self, entries: list[ModelEntry]):
        self.entries = entries
        self._exact = {e.id: e for e in entries if not e.id.endswith("*")}
        self._patterns = [e for e in entries if e.id.endswith("*")]

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> "ModelRegistry":
        data = json.loads(Path(path or DEFAULT_MODELS_FILE).read_text())
        return cls([ModelEntry(m["id"], m["provider"], bool(m.get("cheap", False)))
                    for m in data["models"]])

    def _entry(self, name: str) -> ModelEntry | None:
        entry = self._exact.get(name)
        if entry is None:
            entry = next((e for e in self._patterns if e.matches(name)), None)
        return entry

    def resolve(self, name: str) -> Route:
        """The route for a client's model name, or ModelNotFound."""
        entry = self._entry(name)
        if entry is not None:
            return Route(name, entry.provider, entry)
        provider, slash, model = name.partition("/")
        if slash:
            entry = self._entry(model)
            if entry is not None and entry.provider == provider:
                return Route(model, provider, entry)
        raise ModelNotFound(name)

    def listed(self) -> list[ModelEntry]:
        """Concrete models to list (patterns such as ``mock-*`` are not listable)."""
        return [e for e in self.entries if not e.id.endswith("*")]
