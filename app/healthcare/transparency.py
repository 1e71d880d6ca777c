"""The deployment's transparency log: sequencing leaves, signing checkpoints, answering proofs.

State lives in the database (``storage.transparency_log``); this module holds the
hashing and the keys. Checkpoints are signed by the first configured key
(``LOG_SIGNING_KEYS``) or, with none configured, by a key generated once and
kept in the database sealed under ``SECRET_KEY``. Every key that ever signed is
remembered and published, so checkpoints signed before a rotation still verify.
"""
from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

import storage.transparency_log as log_repo
from app.healthcare import merkle
from app.healthcare.checkpoint import Checkpoint, sign_checkpoint
from app.healthcare.note import Signer, Verifier
from storage.transparency_log import CheckpointRecord, TreeState

log = logging.getLogger(__name__)
SEQUENCE_BATCH = 1000  # leaves numbered per transaction
SEAL_INFO = b"aqta transparency log signing key v1"


class LogKeyUnavailable(RuntimeError):
    """The generated signing key cannot be opened (SECRET_KEY changed)."""


@dataclass(frozen=True)
class Proof:
    index: int
    checkpoint: CheckpointRecord
    hashes: list[bytes]


class TransparencyLog:
    def __init__(self, origin: str, configured_keys: tuple[str, ...], secret_key: str):
        self.origin = origin
        self.configured = [Signer.parse(key) for key in configured_keys]
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(
            secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._generated: Signer | None = None

    def __repr__(self) -> str:
        return f"TransparencyLog({self.origin!r}, <keys>)"

    # -- keys --------------------------------------------------------------------------------

    def signer(self) -> Signer:
        """The key that signs new checkpoints."""
        if self.configured:
            return self.configured[0]
        if self._generated is None:
            record = log_repo.active_generated_key()
            if record is None:
                fresh = Signer.generate(self.origin)
                record = log_repo.store_generated_key(str(fresh.verifier), self._seal(fresh),
                                                      retire_others=False)
            self._generated = self._open(record.private)
        return self._generated

    def rotate_generated_key(self) -> Verifier:
        """Retire the generated key and make a new one (configured keys rotate by configuration)."""
        fresh = Signer.generate(self.origin)
        log_repo.store_generated_key(str(fresh.verifier), self._seal(fresh), retire_others=True)
        self._generated = fresh
        return fresh.verifier

    def verifiers(self) -> list[Verifier]:
        """Every public key that signed (or will sign) a checkpoint of this log."""
        seen = {str(signer.verifier): signer.verifier for signer in self.configured}
        for record in log_repo.keys():
            seen.setdefault(record.vkey, Verifier.parse(record.vkey))
        return list(seen.values())

    def _seal(self, signer: Signer) -> str:
        return self._fernet.encrypt(str(signer).encode()).decode()

    def _open(self, sealed: str) -> Signer:
        try:
            return Signer.parse(self._fernet.decrypt(sealed.encode()).decode())
        except InvalidToken:
            raise LogKeyUnavailable("the log's generated signing key cannot be opened: was SECRET_KEY "
                                    "changed? Restore it, or set LOG_SIGNING_KEYS.") from None

    # -- sequencing and checkpoints ------------------------------------------------------------

    def sequence_pending(self) -> TreeState | None:
        """Number every pending leaf; the tree's new state, or None if nothing was pending."""
        latest = None
        while True:
            state = log_repo.sequence(SEQUENCE_BATCH, merkle.extend)
            if state is None:
                return latest
            latest = state

    def sign_checkpoint(self) -> CheckpointRecord | None:
        """Sign the current tree if it grew since the last checkpoint (or its key changed)."""
        state = log_repo.state()
        if state is None or state.size == 0:
            return None
        signer = self.signer()
        latest = log_repo.latest_checkpoint()
        key_id = f"{signer.verifier.key_id:08x}"
        if latest is not None and latest.size >= state.size and latest.key_id == key_id:
            return None
        log_repo.remember_key(str(signer.verifier))
        note = sign_checkpoint(Checkpoint(self.origin, state.size, state.root), signer)
        return log_repo.add_checkpoint(state.size, state.root, note, key_id)

    # -- proofs --------------------------------------------------------------------------------

    def _hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        wanted = [node for a, b in ranges for node in merkle.perfect_cover(a, b)]
        found = log_repo.nodes(wanted)
        return [merkle.range_hash(a, b, found.__getitem__) for a, b in ranges]

    def inclusion(self, index: int) -> Proof | None:
        """Leaf ``index``'s proof against the latest checkpoint, or None if none covers it yet."""
        checkpoint = log_repo.latest_checkpoint()
        if checkpoint is None or checkpoint.size <= index:
            return None
        return Proof(index, checkpoint, self._hashes(merkle.inclusion_ranges(index, checkpoint.size)))

    def inclusion_many(self, indices: list[int], size: int) -> dict[int, list[bytes]]:
        """Proofs for several leaves in a tree of ``size``, from one node query."""
        paths = {index: merkle.inclusion_ranges(index, size) for index in indices}
        wanted = {node for ranges in paths.values() for a, b in ranges for node in merkle.perfect_cover(a, b)}
        found = log_repo.nodes(wanted)
        return {index: [merkle.range_hash(a, b, found.__getitem__) for a, b in ranges]
                for index, ranges in paths.items()}

    def consistency(self, old: int, new: int) -> list[bytes]:
        return self._hashes(merkle.consistency_ranges(old, new))



def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.extensions["aqta.transparency_log"] = TransparencyLog(
        settings.log_origin, settings.log_signing_keys, settings.secret_key)


def transparency_log() -> TransparencyLog:
    return current_app.extensions["aqta.transparency_log"]
