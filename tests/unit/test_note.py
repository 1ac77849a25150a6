"""Signed notes and checkpoints per C2SP signed-note and tlog-checkpoint, checked against the spec's own example."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signoff.audit.note import (
    Checkpoint,
    NoteError,
    open_checkpoint,
    open_note,
    parse_vkey,
    sign,
    sign_checkpoint,
    vkey,
)

# https://c2sp.org/signed-note, section "Verifier keys", its example (C2SP/C2SP at commit 5ba5ee83, signed-note.md).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
ORIGIN = "bank.example/audit"


def test_the_spec_example_verifies_and_an_altered_copy_does_not() -> None:
    name, key = parse_vkey(SPEC_VKEY)
    assert open_note(SPEC_NOTE, name, key) == "This is an example message.\n"
    assert vkey(name, key) == SPEC_VKEY  # the same key id and encoding as the spec computes
    with pytest.raises(NoteError, match="does not verify"):
        open_note(SPEC_NOTE.replace("example message", "example massage"), name, key)
    with pytest.raises(NoteError, match="id 530d903b is not the one"):
        parse_vkey(SPEC_VKEY.replace("530d903a", "530d903b"))


def test_a_checkpoint_round_trips_and_is_refused_when_altered_or_signed_by_another_key() -> None:
    private = Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 1234, bytes(range(32))), private)
    lines = note.split("\n")
    assert lines[:4] == [ORIGIN, "1234", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", ""]
    assert lines[4].startswith(f"\u2014 {ORIGIN} ") and lines[5] == ""
    assert open_checkpoint(note, ORIGIN, private.public_key()) == Checkpoint(ORIGIN, 1234, bytes(range(32)))
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(note.replace("\n1234\n", "\n1235\n"), ORIGIN, private.public_key())
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(NoteError, match="no signature by key"):
        open_checkpoint(note, ORIGIN, other)
    with pytest.raises(NoteError, match="no signature by key"):
        open_checkpoint(note, "other.example/log", private.public_key())


def test_signatures_of_other_keys_are_ignored_as_the_spec_requires() -> None:
    private, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, bytes(32)), private)
    cosigned = note + sign(Checkpoint(ORIGIN, 7, bytes(32)).text(), "witness.example/w1", witness).split("\n\n")[1]
    assert open_checkpoint(cosigned, ORIGIN, private.public_key()).size == 7
    assert open_note(cosigned, "witness.example/w1", witness.public_key()) == Checkpoint(ORIGIN, 7, bytes(32)).text()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (f"{ORIGIN}\n0012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "leading zeros"),
        (f"{ORIGIN}\n12\nAAAA\n", "3 bytes, not 32"),
        (f"{ORIGIN}\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nextension\n", "3 lines"),
        ("other.example/log\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "of log 'other.example/log'"),
    ],
)
def test_a_signed_text_that_is_not_a_checkpoint_of_this_log_is_refused(text: str, why: str) -> None:
    private = Ed25519PrivateKey.generate()
    with pytest.raises(NoteError, match=why):
        open_checkpoint(sign(text, ORIGIN, private), ORIGIN, private.public_key())


@pytest.mark.parametrize(
    ("note", "why"),
    [
        ("text\n", "no blank line"),
        ("text\n\n\u2014 name\n", "is not"),
        ("text\n\n\u2014 name !!!\n", "not base64"),
        ("text\n\n\u2014 name AAAA\n", "too short"),
        ("te\x07xt\n\n\u2014 name AAAAAAAA\n", "control character"),
        ("text\n\n\u2014 name AAAAAAAA", "ends with a newline"),
    ],
)
def test_a_malformed_note_is_refused_with_its_fault_named(note: str, why: str) -> None:
    with pytest.raises(NoteError, match=why):
        open_note(note, "name", Ed25519PrivateKey.generate().public_key())


def test_an_origin_with_a_space_or_plus_is_refused() -> None:
    with pytest.raises(NoteError, match="origin"):
        sign_checkpoint(Checkpoint("bank example", 1, bytes(32)), Ed25519PrivateKey.generate())
