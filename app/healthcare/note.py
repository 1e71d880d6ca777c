"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note).

A note is UTF-8 text ending in a newline, a blank line, then one line per
signature: ``— <key name> <base64(key id ‖ signature)>``. The key id is the
first four bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key); a verifier key is
written ``<name>+<key id in hex>+<base64(0x01 ‖ public key)>`` and a signer key
``PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>``, as Go's
``golang.org/x/mod/sumdb/note`` spells them. Standard library plus ``cryptography``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note or key is malformed, or no trusted key signed the note."""


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError(f"invalid key name {name!r}: no spaces, no '+', not empty")


def key_id(name: str, public_key: bytes) -> int:
    """The four-byte key id of an Ed25519 key, as an unsigned integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def b64decode(text: str) -> bytes:
    """Strict standard base64: one spelling per value (unused trailing bits must be zero)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError("invalid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteError("invalid base64: not in canonical form")
    return raw


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: its name, id and Ed25519 key."""

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read ``name+hex8+base64(0x01‖key)``; reject anything else."""
        parts = vkey.split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("a verifier key is name+keyid+base64key")
        name, hex_id, encoded = parts
        _check_name(name)
        try:
            wanted = int(hex_id, 16)
        except ValueError:
            raise NoteError("the key id is not hexadecimal") from None
        if hex_id != hex_id.lower():
            raise NoteError("the key id must be lower-case hexadecimal")
        raw = b64decode(encoded)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("only 32-byte Ed25519 keys (algorithm 0x01) are supported")
        if key_id(name, raw[1:]) != wanted:
            raise NoteError("the key id does not match the key")
        return cls(name, wanted, raw[1:])

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 private key under a key name."""

    def __init__(self, name: str, seed: bytes):
        _check_name(name)
        if len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, key_id(name, public), public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Read ``PRIVATE+KEY+name+hex8+base64(0x01‖seed)``."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or len(parts[3]) != 8:
            raise NoteError("a signer key is PRIVATE+KEY+name+keyid+base64seed")
        raw = b64decode(parts[4])
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("only Ed25519 signer keys (algorithm 0x01) are supported")
        signer = cls(parts[2], raw[1:])
        if parts[3] != f"{signer.verifier.key_id:08x}":
            raise NoteError("the key id does not match the key")
        return signer

    def __str__(self) -> str:
        seed = self._key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id:08x}+{encoded}"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text must be non-empty lines, each ending in a newline")
    if any(not (c.isprintable() or c == "\n") for c in text):
        raise NoteError("note text holds a control character")


def sign(text: str, *signers: Signer) -> str:
    """The signed note: ``text``, a blank line and one signature line per signer."""
    _check_text(text)
    lines = []
    for signer in signers:
        blob = signer.verifier.key_id.to_bytes(4, "big") + signer.sign(text.encode())
        lines.append(f"{SIGNATURE_PREFIX}{signer.name} {base64.b64encode(blob).decode()}\n")
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified_by: tuple[Verifier, ...]  # the trusted keys whose signature checked out


def open_note(note: str, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Check ``note``'s signatures against trusted keys; at least one must verify.

    Signatures by unknown keys are ignored (a log may be cosigned); a signature by a
    known key that does not verify is an error, as is a note no trusted key signed.
    """
    if not isinstance(note, str) or not note.endswith("\n"):
        raise NoteError("malformed note: it must end in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[:split + 1], note[split + 2:]
    _check_text(text)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[Verifier] = []
    sig_lines = block.split("\n")[:-1]
    if not sig_lines or len(sig_lines) > MAX_SIGNATURES:
        raise NoteError("malformed note: it needs 1 to 100 signature lines")
    for line in sig_lines:
        if not line.startswith(SIGNATURE_PREFIX) or line.count(" ") != 2:
            raise NoteError("malformed note: a signature line is '— name base64'")
        name, encoded = line[len(SIGNATURE_PREFIX):].split(" ")
        _check_name(name)
        blob = b64decode(encoded)
        if len(blob) < 5:
            raise NoteError("malformed note: a signature is too short")
        verifier = known.get((name, int.from_bytes(blob[:4], "big")))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), blob[4:]):
            raise NoteError(f"the signature by {name} does not verify")
        verified.append(verifier)
    if not verified:
        raise NoteError("no trusted key signed the note")
    return OpenedNote(text, tuple(verified))
