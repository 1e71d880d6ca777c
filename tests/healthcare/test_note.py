"""C2SP signed notes and checkpoints: Go's sumdb/note vectors, rotation, tampering."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from app.healthcare.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from app.healthcare.merkle import leaf_hash
from app.healthcare.note import NoteError, Signer, Verifier, b64decode, open_note, sign

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


# -- each refusal says why: the verifier and the monitor print these reasons -------------------

SEED = bytes(range(32))
ROOT_B64 = base64.b64encode(bytes(32)).decode()
SIGNER_KEY = VECTORS["signer_key"]  # PRIVATE+KEY+PeterNeumann+c74f20a3+<base64 with a '+' in it>
PETER_KEY = base64.b64encode(bytes([1]) + Verifier.parse(PETER).public_key).decode()


def _peter(key_id: str = "c74f20a3", encoded: str = PETER_KEY, name: str = "PeterNeumann") -> str:
    return f"{name}+{key_id}+{encoded}"


def _seed_key(seed: bytes, key_id: str = "c74f20a3", head: str = "PRIVATE+KEY") -> str:
    return f"{head}+PeterNeumann+{key_id}+{base64.b64encode(seed).decode()}"


@pytest.mark.parametrize("vkey, reason", [
    ("PeterNeumann+c74f20a3", "a verifier key is name+keyid+base64key"),
    (_peter(key_id="c74f20a"), "a verifier key is name+keyid+base64key"),
    (_peter(name="Peter\u00a0Neumann"), "invalid key name 'Peter\\xa0Neumann': no spaces, no '+', not empty"),
    (_peter(key_id="c74f20g3"), "the key id is not hexadecimal"),
    (_peter(key_id="C74F20A3"), "the key id must be lower-case hexadecimal"),
    (_peter(key_id="c74f20a4"), "the key id does not match the key"),
    (_peter(encoded="A!" + PETER_KEY[2:]), "invalid base64"),
    (_peter(encoded=PETER_KEY[:-4]), "only 32-byte Ed25519 keys (algorithm 0x01) are supported"),
    (_peter(encoded=base64.b64encode(bytes([2]) + bytes(32)).decode()),
     "only 32-byte Ed25519 keys (algorithm 0x01) are supported"),
])
def test_a_refused_verifier_key_says_why(vkey, reason):
    with pytest.raises(NoteError) as refused:
        Verifier.parse(vkey)
    assert str(refused.value) == reason


@pytest.mark.parametrize("skey, reason", [
    ("PRIVATE+KEY+PeterNeumann+c74f20a3", "a signer key is PRIVATE+KEY+name+keyid+base64seed"),
    ("PUBLIC" + SIGNER_KEY.removeprefix("PRIVATE"), "a signer key is PRIVATE+KEY+name+keyid+base64seed"),
    (SIGNER_KEY.replace("+c74f20a3+", "+c74f20a+"), "a signer key is PRIVATE+KEY+name+keyid+base64seed"),
    (SIGNER_KEY.replace("+c74f20a3+", "+c74f20a4+"), "the key id does not match the key"),
    (_seed_key(bytes([1]) + SEED[:31]), "only Ed25519 signer keys (algorithm 0x01) are supported"),
    (_seed_key(bytes([2]) + SEED), "only Ed25519 signer keys (algorithm 0x01) are supported"),
])
def test_a_refused_signer_key_says_why(skey, reason):
    with pytest.raises(NoteError) as refused:
        Signer.parse(skey)
    assert str(refused.value) == reason


def test_a_signer_seed_is_32_bytes_and_base64_has_one_spelling():
    with pytest.raises(NoteError, match="^an Ed25519 seed is 32 bytes$"):
        Signer("aqta.test/log", SEED[:31])
    with pytest.raises(NoteError, match="^invalid base64: not in canonical form$"):
        b64decode("AB==")  # "AA==" is the one spelling of a zero byte
    with pytest.raises(NoteError, match="^invalid base64$"):
        b64decode("A\u00e9==")
    with pytest.raises(NoteError, match="^invalid base64$"):
        b64decode("A!A==")  # not skipped over: "AA==" without the "!" would be valid


def test_a_verifier_key_whose_base64_holds_a_plus_round_trips():
    signers = (Signer("aqta.test/log", bytes([n]) * 32) for n in range(256))
    signer = next(s for s in signers if "+" in str(s.verifier).split("+", 2)[2])
    assert Verifier.parse(str(signer.verifier)) == signer.verifier


@pytest.mark.parametrize("text, reason", [
    ("no newline", "note text must be non-empty lines, each ending in a newline"),
    ("one\n\ntwo\n", "note text must be non-empty lines, each ending in a newline"),
    ("\none\n", "note text must be non-empty lines, each ending in a newline"),
    ("tab\there\n", "note text holds a control character"),
])
def test_note_text_that_cannot_be_signed_says_why(text, reason):
    with pytest.raises(NoteError) as refused:
        sign(text, Signer.parse(SIGNER_KEY))
    assert str(refused.value) == reason


def test_a_note_signed_by_two_keys_opens_with_either():
    first, second = Signer("aqta.test/a", SEED), Signer("aqta.test/b", bytes(32))
    note = sign("text\n", first, second)
    assert note.count("\n\u2014 ") == 2 and note.endswith("\n")
    assert open_note(note, [second.verifier]).verified_by == (second.verifier,)
    assert open_note(note, [first.verifier, second.verifier]).verified_by == (first.verifier, second.verifier)


def _line(name: str, blob: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(blob).decode()}\n"


@pytest.mark.parametrize("tail, reason", [
    ("", "malformed note: it needs 1 to 100 signature lines"),
    (_line("Other", bytes(68)) * 100 + VECTORS["peter_signature_line"],
     "malformed note: it needs 1 to 100 signature lines"),
    ("- PeterNeumann AAAAAAAA\n", "malformed note: a signature line is '\u2014 name base64'"),
    ("\u2014 Peter Neumann AAAAAAAA\n", "malformed note: a signature line is '\u2014 name base64'"),
    (_line("PeterNeumann", bytes(4)), "malformed note: a signature is too short"),
    (_line("PeterNeumann", bytes(5)), "no trusted key signed the note"),  # five bytes: long enough
    (_line("PeterNeumann", bytes.fromhex("c74f20a3") + bytes(64)),
     "the signature by PeterNeumann does not verify"),
])
def test_a_refused_note_says_why(tail, reason):
    with pytest.raises(NoteError) as refused:
        open_note(VECTORS["text"] + "\n" + tail, [Verifier.parse(PETER)])
    assert str(refused.value) == reason


def test_the_most_signature_lines_a_note_may_have_is_100():
    note = VECTORS["text"] + "\n" + _line("Other", bytes(68)) * 99 + VECTORS["peter_signature_line"]
    assert open_note(note, [Verifier.parse(PETER)]).text == VECTORS["text"]


@pytest.mark.parametrize("note, reason", [
    (None, "malformed note: it must end in a newline"),
    (VECTORS["signed"].rstrip("\n"), "malformed note: it must end in a newline"),
    ("\n\n" + VECTORS["peter_signature_line"], "note text must be non-empty lines, each ending in a newline"),
    (VECTORS["signed"] + "\n" + VECTORS["enoch_signature_line"],  # the last blank line ends the text
     "note text must be non-empty lines, each ending in a newline"),
    ("text\n" + VECTORS["peter_signature_line"], "malformed note: no blank line before the signatures"),
])
def test_a_note_of_the_wrong_shape_says_why(note, reason):
    with pytest.raises(NoteError) as refused:
        open_note(note, [Verifier.parse(PETER)])
    assert str(refused.value) == reason


@pytest.mark.parametrize("body, reason", [
    ("origin\n1\n", "a checkpoint body is origin, size and root, each on its line"),
    (f"origin\n1\n{ROOT_B64}", "a checkpoint body is origin, size and root, each on its line"),
    (f"\n1\n{ROOT_B64}\n", "the checkpoint's origin is empty"),
    (f"origin\n012\n{ROOT_B64}\n", "the checkpoint's tree size is not a decimal number"),
    (f"origin\n1e3\n{ROOT_B64}\n", "the checkpoint's tree size is not a decimal number"),
    ("origin\n1\nAAAA\n", "the checkpoint's root hash is not 32 bytes"),
])
def test_a_refused_checkpoint_body_says_why(body, reason):
    with pytest.raises(NoteError) as refused:
        Checkpoint.parse_body(body)
    assert str(refused.value) == reason


def test_an_empty_log_has_a_checkpoint_of_size_zero():
    assert Checkpoint.parse_body(f"origin\n0\n{ROOT_B64}\n") == Checkpoint("origin", 0, bytes(32))
