"""C2SP signed notes and checkpoints: Go's sumdb/note vectors, rotation, tampering."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from app.healthcare.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from app.healthcare.merkle import leaf_hash
from app.healthcare.note import NoteError, Signer, Verifier, open_note, sign

VECTORS = json.loads((Path(__file__).parent / "vectors" / "note" / "sumdb_note_test.json").read_text())
PETER = VECTORS["verifier_keys"]["PeterNeumann"]
ENOCH = VECTORS["verifier_keys"]["EnochRoot"]


def test_go_verifier_keys_parse_and_print_back():
    for vkey in (PETER, ENOCH):
        assert str(Verifier.parse(vkey)) == vkey
    assert Verifier.parse(PETER).key_id == 0xC74F20A3


def test_go_signer_key_signs_exactly_as_go_does():
    signer = Signer.parse(VECTORS["signer_key"])
    assert str(signer) == VECTORS["signer_key"]
    assert str(signer.verifier) == PETER
    assert sign(VECTORS["text"], signer) == VECTORS["signed"]


def test_go_signatures_open_with_the_keys_that_made_them():
    note = VECTORS["text"] + "\n" + VECTORS["peter_signature_line"] + VECTORS["enoch_signature_line"]
    only_peter = open_note(note, [Verifier.parse(PETER)])
    assert only_peter.text == VECTORS["text"]
    assert [v.name for v in only_peter.verified_by] == ["PeterNeumann"]
    both = open_note(note, [Verifier.parse(PETER), Verifier.parse(ENOCH)])
    assert [v.name for v in both.verified_by] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(NoteError, match="no trusted key"):
        open_note(note, [])


@pytest.mark.parametrize("vkey", VECTORS["bad_verifier_keys"])
def test_go_bad_verifier_keys_are_refused(vkey):
    with pytest.raises(NoteError):
        Verifier.parse(vkey)


def test_every_mangling_of_a_verifier_key_is_refused():
    data = PETER.encode()
    for i in range(len(data)):
        for j in range(i + 1, len(data) + 1):
            if (i, j) != (0, len(data)):
                with pytest.raises(NoteError):
                    Verifier.parse(data[i:j].decode())
    for i in range(len(data)):
        mangled = bytearray(data)
        mangled[i] += 1
        with pytest.raises(NoteError):
            Verifier.parse(mangled.decode())


def test_every_bit_flip_of_a_signed_note_is_refused():
    signed = VECTORS["signed"].encode()
    verifiers = [Verifier.parse(PETER)]
    for bit in range(len(signed) * 8):
        flipped = bytearray(signed)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            text = flipped.decode()
        except UnicodeDecodeError:
            continue  # not even text: nothing to open
        with pytest.raises(NoteError):
            open_note(text, verifiers)


def _checkpoint(size: int = 7) -> Checkpoint:
    return Checkpoint("aqta.test/log", size, leaf_hash(b"root"))


def test_a_checkpoint_round_trips_through_a_signed_note():
    signer = Signer.generate("aqta.test/log")
    note = sign_checkpoint(_checkpoint(), signer)
    assert note.startswith("aqta.test/log\n7\n" + base64.b64encode(leaf_hash(b"root")).decode() + "\n\n")
    assert open_checkpoint(note, [signer.verifier], origin="aqta.test/log") == _checkpoint()
    with pytest.raises(NoteError, match="not 'other'"):
        open_checkpoint(note, [signer.verifier], origin="other")


def test_old_checkpoints_verify_after_a_key_rotation():
    old, new = Signer.generate("aqta.test/log"), Signer.generate("aqta.test/log")
    before, after = sign_checkpoint(_checkpoint(3), old), sign_checkpoint(_checkpoint(9), new)
    published = [old.verifier, new.verifier]
    assert open_checkpoint(before, published).size == 3
    assert open_checkpoint(after, published).size == 9
    with pytest.raises(NoteError):
        open_checkpoint(before, [new.verifier])


def test_flipped_size_root_or_signature_of_a_checkpoint_is_refused():
    signer = Signer.generate("aqta.test/log")
    note = sign_checkpoint(_checkpoint(1000), signer)
    body, signature_block = note.split("\n\n")
    lines = body.split("\n")
    for bit in range(10):
        size = 1000 ^ (1 << bit)
        forged = "\n".join([lines[0], str(size), lines[2]]) + "\n\n" + signature_block
        with pytest.raises(NoteError):
            open_checkpoint(forged, [signer.verifier])
    root = base64.b64decode(lines[2])
    for bit in range(256):
        flipped = bytearray(root)
        flipped[bit // 8] ^= 1 << (bit % 8)
        forged_body = "\n".join([lines[0], lines[1], base64.b64encode(flipped).decode()])
        forged = forged_body + "\n\n" + signature_block
        with pytest.raises(NoteError):
            open_checkpoint(forged, [signer.verifier])
    name, blob = signature_block.rstrip("\n").split(" ")[1:]
    raw = base64.b64decode(blob)
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        forged = body + "\n\n\u2014 " + name + " " + base64.b64encode(flipped).decode() + "\n"
        with pytest.raises(NoteError):
            open_checkpoint(forged, [signer.verifier])


@pytest.mark.parametrize("body", ["", "origin\n", "origin\n12\n", "origin\n-1\nAAAA\n", "origin\n012\n" +
                                  base64.b64encode(bytes(32)).decode() + "\n", "\n1\n" +
                                  base64.b64encode(bytes(32)).decode() + "\n", "o\n1\nAAAA\n"])
def test_malformed_checkpoint_bodies_are_refused(body):
    with pytest.raises(NoteError):
        Checkpoint.parse_body(body)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\nb"])
def test_bad_key_names_are_refused(name):
    with pytest.raises(NoteError):
        Signer.generate(name)
