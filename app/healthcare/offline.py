"""The offline verifier and the log monitor: standard library plus ``cryptography`` only.

Neither needs server configuration or a database: a receipt bundle (a detail
answer or an export line) is checked against the log's public keys alone, and
the monitor checks that each new checkpoint extends the last one it saved.
"""
from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.healthcare import csv_rows, merkle
from app.healthcare.checkpoint import Checkpoint, open_checkpoint
from app.healthcare.note import NoteError, Verifier
from app.healthcare.verify import Check, all_ok, bundled_leaf, verify_bundle

FETCH_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Outcome:
    label: str  # the receipt id, or the file line
    ok: bool
    reason: str


def load_verifiers(values: Iterable[str]) -> list[Verifier]:
    """Public keys given as verifier-key strings or files of them (one per line)."""
    keys = []
    for value in values:
        path = Path(value)
        lines = path.read_text().split() if "+" not in value and path.is_file() else [value]
        keys.extend(Verifier.parse(line.strip()) for line in lines if line.strip())
    if not keys:
        raise NoteError("give at least one public key")
    return keys


def _bundles(text: str) -> Iterator[tuple[str, object, list[Check]]]:
    """(label, bundle, checks already made) for each receipt in a detail answer or an export."""
    if csv_rows.looks_like_export(text):
        yield from csv_rows.bundles(text)
        return
    stripped = text.strip()
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        yield "document", whole, []
        for amendment in whole.get("amendments") or ():  # a receipt's risk assessment, reviews
            yield "amendment", amendment, [_references(whole, amendment)]
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line), []
        except ValueError:
            yield f"line {number}", None, []


def _references(document: dict, amendment: object) -> Check:
    """An amendment shown with a receipt must amend that receipt."""
    receipt = bundled_leaf(document)
    carried = bundled_leaf(amendment)
    wanted = receipt[1].get("id") if receipt else None
    named = carried[1].get("receipt_id") if carried else None
    ok = wanted is not None and named == wanted
    return Check("amends_receipt", ok, f"amends receipt {wanted}" if ok
                 else f"amends {named!r}, not the receipt it is shown with ({wanted!r})")


def verify_file(text: str, verifiers: list[Verifier], origin: str | None = None) -> list[Outcome]:
    """One outcome per leaf bundle in ``text``: a JSON document (with its amendments), JSON Lines
    or a CSV export.

    Raises ``csv_rows.NotAnExport`` for CSV that cannot be checked (made without its leaf column).
    """
    outcomes = []
    for label, bundle, made in _bundles(text):
        carried = bundled_leaf(bundle)
        if carried is not None:
            label = str(carried[1].get("id", label))
        checks = list(made)
        if bundle is not None or not checks:  # an unreadable CSV row has its reason already
            checks += verify_bundle(bundle, verifiers, origin)
        failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
        outcomes.append(Outcome(label, all_ok(checks), "; ".join(failed) or "all checks passed"))
    if not outcomes:
        outcomes.append(Outcome("file", False, "no receipt in the file"))
    return outcomes


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 (http(s) only)
        return response.read()


def _save_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def monitor(base_url: str, verifiers: list[Verifier], state: Path) -> Outcome:
    """Fetch the latest checkpoint, prove it extends the saved one, and save it if so."""
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        return Outcome("log", False, "BASE_URL must start with http:// or https://")
    base = base_url.rstrip("/") + "/api/health/log"
    try:
        note = _get(base + "/checkpoint").decode()
        latest = open_checkpoint(note, verifiers)
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        return Outcome("log", False, f"could not fetch the checkpoint: {exc}")
    except NoteError as exc:
        return Outcome("log", False, f"the checkpoint does not verify: {exc}")
    previous: Checkpoint | None = None
    if state.exists():
        try:
            previous = open_checkpoint(state.read_text(encoding="utf-8"), verifiers)
        except NoteError as exc:
            return Outcome("log", False, f"the saved checkpoint in {state} does not verify: {exc}")
    if previous is not None:
        failure = _consistent(base, previous, latest)
        if failure:
            return Outcome("log", False, failure)
    _save_atomically(state, note)
    grown = f"from {previous.size} " if previous else ""
    return Outcome("log", True, f"checkpoint {grown}to {latest.size} verified and saved")


def _consistent(base: str, old: Checkpoint, new: Checkpoint) -> str | None:
    """None when ``new`` extends ``old``; otherwise why not."""
    if new.origin != old.origin:
        return f"the log's origin changed from {old.origin!r} to {new.origin!r}"
    if new.size < old.size:
        return f"the log shrank from {old.size} to {new.size} leaves: history was rewritten"
    if new.size == old.size:
        return None if new.root == old.root else (
            f"two different roots for tree size {new.size}: history was rewritten")
    query = urllib.parse.urlencode({"from": old.size, "to": new.size})
    try:
        answer = json.loads(_get(f"{base}/consistency?{query}"))
        proof = [base64.b64decode(h, validate=True) for h in answer["proof"]]
        merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, merkle.ProofError):
            return (f"the consistency proof from size {old.size} to {new.size} fails ({exc}): "
                    "history was rewritten")
        return f"could not check consistency from {old.size} to {new.size}: {exc}"
    return None
