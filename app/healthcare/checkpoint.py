"""C2SP tlog checkpoints (https://c2sp.org/tlog-checkpoint): a log's size and root, signed.

The body is three lines: the origin, the tree size in decimal and the base64
root hash (extension lines may follow). It is carried in a signed note.
"""
from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from app.healthcare.merkle import HASH_SIZE
from app.healthcare.note import NoteError, Signer, Verifier, b64decode, open_note, sign


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint body is origin, size and root, each on its line")
        origin, size_text, root_text = lines[:3]
        if not origin:
            raise NoteError("the checkpoint's origin is empty")
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise NoteError("the checkpoint's tree size is not a decimal number")
        root = b64decode(root_text)
        if len(root) != HASH_SIZE:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size_text), root)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    return sign(checkpoint.body(), signer)


def open_checkpoint(note: str, verifiers: Iterable[Verifier], origin: str | None = None) -> Checkpoint:
    """The checkpoint in a signed note, once a trusted key's signature checks out."""
    opened = open_note(note, verifiers)
    checkpoint = Checkpoint.parse_body(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
