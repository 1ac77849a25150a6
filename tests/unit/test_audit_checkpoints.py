"""Checkpoint key files and checkpoint files: made safely, refused with a reason that names the problem."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from signoff.audit import checkpoints
from signoff.errors import InvalidInput


def test_keygen_writes_a_private_key_only_its_owner_can_read_and_never_overwrites(tmp_path: Path) -> None:
    private, public = tmp_path / "audit.key", tmp_path / "audit.pub"
    made = checkpoints.write_keys(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert checkpoints.key_id(checkpoints.load_public_key(public)) == made
    assert checkpoints.key_id(checkpoints.load_private_key(private).public_key()) == made
    before = private.read_bytes()
    with pytest.raises(checkpoints.KeyFileError, match="exists; keys are never overwritten"):
        checkpoints.write_keys(private, tmp_path / "other.pub")
    assert private.read_bytes() == before and not (tmp_path / "other.pub").exists()


def test_a_key_of_the_wrong_kind_or_no_key_is_refused_with_the_path(tmp_path: Path) -> None:
    checkpoints.write_keys(tmp_path / "audit.key", tmp_path / "audit.pub")
    with pytest.raises(checkpoints.KeyFileError, match=r"audit\.pub is not a PEM private key"):
        checkpoints.load_private_key(tmp_path / "audit.pub")
    with pytest.raises(checkpoints.KeyFileError, match=r"audit\.key is not a PEM public key"):
        checkpoints.load_public_key(tmp_path / "audit.key")
    with pytest.raises(checkpoints.KeyFileError, match=r"cannot read the public key .*missing\.pub"):
        checkpoints.load_public_key(tmp_path / "missing.pub")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"format": "signoff-audit-checkpoint/1"}', "seq: must be a whole number"),
        (
            '{"format": "x", "seq": 3, "hash": "h", "made_at": "t", "key_id": "k", "signature": "s"}',
            "format: must be 'signoff-audit-checkpoint/1'",
        ),
        (
            '{"format": "signoff-audit-checkpoint/1", "seq": true, "hash": "h", "made_at": "t", "key_id": "k", '
            '"signature": "s"}',
            "seq: must be a whole number",
        ),
    ],
)
def test_a_checkpoint_file_of_the_wrong_shape_is_refused_field_by_field(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        checkpoints.read(path)
    assert problem in str(caught.value)


def test_a_well_formed_checkpoint_file_is_read_as_written(tmp_path: Path) -> None:
    document = {
        "format": checkpoints.FORMAT,
        "seq": 12,
        "hash": "ab" * 32,
        "made_at": "2026-11-29T09:00:00+00:00",
        "key_id": "0123456789abcdef",
        "signature": "c2ln",
    }
    path = tmp_path / "checkpoint.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert checkpoints.read(path) == document
