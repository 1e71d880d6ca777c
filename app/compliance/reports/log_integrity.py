"""The receipts and transparency log section: every receipt of the period checked, and the log's history.

Each receipt of the period that the latest checkpoint covers is proven against it
and checked by the verifier the verify route uses; the checkpoints signed in the
period are checked for consistency, first to last and last to latest, so the
period's history is shown to be only appended to since.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import storage.receipts as receipts_repo
import storage.transparency_log as log_repo
from app.compliance.reports.model import Figure, Scope, Section, Table
from app.healthcare import merkle
from app.healthcare.checkpoint import open_checkpoint
from app.healthcare.leaves import RECEIPT
from app.healthcare.note import NoteError, Verifier
from app.healthcare.proven import provable, proven_pages
from app.healthcare.transparency import transparency_log
from app.healthcare.verify import all_ok, verify_bundle
from storage.receipts import ReceiptFilter
from storage.transparency_log import CheckpointRecord

LISTED_FAILURES = 100  # failed leaves listed one by one at most


def _failed_check(checks) -> str:
    return next(f"{c.name}: {c.detail}" for c in checks if not c.ok)


@dataclass(frozen=True)
class Verified:
    """Leaves proven against a checkpoint and checked by the verifier the verify route uses."""

    checked: int
    verified: int
    failures: list[list]  # [leaf id, first failed check], the first LISTED_FAILURES of them

    @property
    def failed(self) -> int:
        return self.checked - self.verified


def verify_pages(pages: Iterable[list[dict]], kind: str, verifiers: list[Verifier], origin: str) -> Verified:
    """Check every bundle of ``pages``, whose leaves are of type ``kind`` (receipt, audit_event)."""
    checked = verified = 0
    failures: list[list] = []
    for bundles in pages:
        for bundle in bundles:
            checks = verify_bundle(bundle, verifiers, origin)
            checked += 1
            if all_ok(checks):
                verified += 1
            elif len(failures) < LISTED_FAILURES:
                failures.append([bundle[kind].get("id"), _failed_check(checks)])
    return Verified(checked, verified, failures)


def failures_table(title: str, leaf: str, result: Verified) -> Table:
    return Table(title, [leaf, "First failed check"], result.failures,
                 note=f"The first {len(result.failures)} of {result.failed}."
                 if result.failed > len(result.failures) else None)


def consistency(old: CheckpointRecord, new: CheckpointRecord, verifiers: Iterable[Verifier],
                origin: str) -> str | None:
    """None when both checkpoints are signed and ``new`` extends ``old``; otherwise why not."""
    try:
        old_cp = open_checkpoint(old.note, verifiers, origin)
        new_cp = open_checkpoint(new.note, verifiers, origin)
        proof = transparency_log().consistency(old_cp.size, new_cp.size) if new_cp.size > old_cp.size else []
        merkle.verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, proof)
    except (NoteError, merkle.ProofError) as exc:
        return str(exc)
    return None


def _checkpoint_row(name: str, checkpoint: CheckpointRecord) -> list:
    return [name, checkpoint.size, checkpoint.created_at.isoformat(timespec="seconds"), checkpoint.key_id]


def receipts_and_log(scope: Scope) -> Section:
    tlog = transparency_log()
    verifiers, origin = tlog.verifiers(), tlog.origin
    # The period's checkpoints before the latest: one signed in between is then at most the latest.
    span = log_repo.checkpoints_between(scope.since, scope.until)
    latest = log_repo.latest_checkpoint()
    receipts = receipts_repo.count(scope.user_id, ReceiptFilter(since=scope.since, until=scope.until))
    pages = proven_pages(scope.user_id, provable(scope.since, scope.until, latest), latest,
                         tlog.inclusion_many)
    result = verify_pages(pages, RECEIPT, verifiers, origin)
    checked, verified = result.checked, result.verified
    pairs = [("first to last checkpoint of the period", span.first, span.last),
             ("last checkpoint of the period to the latest", span.last, latest)] if span else []
    outcomes = [(name, old, new, consistency(old, new, verifiers, origin)) for name, old, new in pairs]
    consistent = all(why is None for *_, why in outcomes) if outcomes else None
    figures = [
        Figure("receipts", "Receipts issued", receipts),
        Figure("receipts_checked", "Receipts proven against the latest checkpoint", checked),
        Figure("receipts_verified", "Receipts verified", verified),
        Figure("receipts_failed", "Receipts failing verification", checked - verified),
        Figure("receipts_pending", "Receipts not yet in a checkpoint", receipts - checked),
        Figure("latest_checkpoint_size", "Latest checkpoint's tree size", latest.size if latest else 0),
        Figure("checkpoints", "Checkpoints signed in the period", span.count if span else 0),
        Figure("log_consistent", "Log only appended to (consistency proofs verified)", consistent),
    ]
    empty = receipts == 0 and span is None
    if empty:
        summary = "No receipts were issued and no checkpoint was signed in this period."
    else:
        summary = (f"{verified} of {receipts} receipts verified against the latest checkpoint"
                   + ("" if consistent is None else "; the log's history in the period is consistent"
                      if consistent else "; a consistency check FAILED") + ".")
    section = Section("receipts_and_log", "Receipts and the transparency log", summary, empty, figures)
    checkpoints = [_checkpoint_row("First of the period", span.first),
                   _checkpoint_row("Last of the period", span.last)] if span else []
    if latest:
        checkpoints.append(_checkpoint_row("Latest", latest))
    if checkpoints:
        section.tables.append(Table("Checkpoints", ["Checkpoint", "Tree size", "Signed at (UTC)", "Key id"],
                                    checkpoints))
    if outcomes:
        section.tables.append(Table("Consistency proofs", ["Between", "From size", "To size", "Result"],
                                    [[name, old.size, new.size,
                                      "verified" if why is None else f"FAILED: {why}"]
                                     for name, old, new, why in outcomes]))
    if result.failures:
        section.tables.append(failures_table("Receipts failing verification", "Receipt", result))
    return section
