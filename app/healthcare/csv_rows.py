"""The CSV export's rows: a receipt bundle as one spreadsheet row, and back, for the offline verifier.

A row holds the receipt's fields in readable columns for the spreadsheet, the
proof columns, and in ``leaf`` the receipt's exact canonical JSON, so each row
verifies alone, like a JSONL line. The readable columns are copies: the verifier
checks each one against the leaf, so a cell edited in a spreadsheet fails too.
Standard library only, for the offline verifier.
"""
from __future__ import annotations

import csv
import io
import json

from app.healthcare.leaves import canonical_json
from app.healthcare.verify import SEQUENCED, Check

RECEIPT_COLUMNS = ("id", "request_id", "created_at", "account_id", "key_id", "model", "provider", "status",
                   "error_code")
USAGE_COLUMNS = ("prompt_tokens", "completion_tokens")
COMMITMENT_COLUMNS = {"request_commitment": "request", "answer_commitment": "answer"}
COLUMNS = (*RECEIPT_COLUMNS, *USAGE_COLUMNS, "cost_eur", *COMMITMENT_COLUMNS, "leaf_index", "leaf_hash",
           "tree_size", "inclusion_proof", "checkpoint", "leaf")


class NotAnExport(ValueError):
    """CSV that is not a receipt export this verifier can check."""


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def readable(receipt: dict) -> dict[str, str]:
    """The readable columns' cells for ``receipt``, as the export writes them."""
    usage, commitments = receipt.get("usage") or {}, receipt.get("commitments") or {}
    cells = {name: _cell(receipt.get(name)) for name in (*RECEIPT_COLUMNS, "cost_eur")}
    cells.update({name: _cell(usage.get(name)) for name in USAGE_COLUMNS})
    cells.update({column: _cell(commitments.get(key)) for column, key in COMMITMENT_COLUMNS.items()})
    return cells


def header() -> str:
    return _line(COLUMNS)


def row(bundle: dict) -> str:
    """One CSV line (ending in a newline) for a sequenced bundle."""
    receipt = bundle["receipt"]
    cells = {**readable(receipt), "leaf_index": bundle["leaf_index"], "leaf_hash": bundle["leaf_hash"],
             "tree_size": bundle["tree_size"], "inclusion_proof": " ".join(bundle["inclusion_proof"]),
             "checkpoint": bundle["checkpoint"], "leaf": canonical_json(receipt).decode()}
    return _line(_cell(cells[name]) for name in COLUMNS)


def _line(values) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def looks_like_export(text: str) -> bool:
    return text.lstrip("\ufeff").startswith("id,request_id,")


def bundles(text: str) -> list[tuple[str, object, list[Check]]]:
    """(label, bundle, checks of the readable columns) for each row of a CSV export."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    missing = [name for name in COLUMNS if name not in (reader.fieldnames or ())]
    if missing:
        raise NotAnExport(f"this CSV has no {', '.join(missing)} column(s): only an export made with "
                          "the leaf column verifies; export it again (CSV or JSONL)")
    found = []
    for number, cells in enumerate(reader, 2):
        label = cells.get("id") or f"row {number}"
        try:
            bundle = {"receipt": _json_object(cells["leaf"]), "status": SEQUENCED,
                      "leaf_index": int(cells["leaf_index"]), "leaf_hash": cells["leaf_hash"] or None,
                      "tree_size": int(cells["tree_size"]),
                      "inclusion_proof": cells["inclusion_proof"].split(), "checkpoint": cells["checkpoint"]}
        except (ValueError, TypeError) as exc:
            found.append((label, None, [Check("format", False, f"row {number}: {exc}")]))
            continue
        found.append((label, bundle, [_columns_check(cells, bundle["receipt"])]))
    return found


def _json_object(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the leaf column holds no JSON object")
    return value


def _columns_check(cells: dict[str, str], receipt: dict) -> Check:
    differing = [name for name, value in readable(receipt).items() if cells.get(name) != value]
    if differing:
        return Check("columns", False, f"column(s) {', '.join(differing)} differ from the signed leaf")
    return Check("columns", True, "every readable column matches the signed leaf")
