"""Signed checkpoints through the real command line: make keys, sign the chain's head, hold the chain to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.processes import environment, ingested_example, signoff

pytestmark = pytest.mark.slow  # runs signoff processes


def test_an_auditor_signs_the_head_and_verifies_the_chain_against_it(tmp_path: Path) -> None:
    env = environment()
    project = ["-p", ingested_example(tmp_path, env)]
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = keys / "audit.key", keys / "audit.pub"

    made = signoff("audit", "keygen", "--private-key", str(private), "--public-key", str(public), env=env)
    assert made.returncode == 0, made.stderr
    again = signoff("audit", "keygen", "--private-key", str(private), "--public-key", str(keys / "b.pub"), env=env)
    assert again.returncode == 1 and "keys are never overwritten" in again.stderr

    checkpoint = tmp_path / "checkpoint.json"
    signed = signoff("audit", "checkpoint", "--private-key", str(private), "-o", str(checkpoint), *project, env=env)
    assert signed.returncode == 0, signed.stderr
    document = json.loads(checkpoint.read_text(encoding="utf-8"))
    assert f"Signed seal {document['seq']}" in signed.stdout and document["seq"] > 0

    held = signoff("audit", "verify", "-c", str(checkpoint), "--public-key", str(public), *project, env=env)
    assert held.returncode == 0, held.stderr
    assert f"it holds 1 signed checkpoint(s), the latest at seal {document['seq']}" in held.stdout

    no_key = signoff("audit", "verify", "-c", str(checkpoint), *project, env=env)
    assert no_key.returncode == 2 and "--checkpoint needs --public-key" in no_key.stderr

    checkpoint.write_text(json.dumps({**document, "hash": "0" * 64}), encoding="utf-8")
    edited = signoff("audit", "verify", "-c", str(checkpoint), "--public-key", str(public), *project, env=env)
    assert edited.returncode == 1 and "signature does not verify with this public key" in edited.stderr

    checkpoint.write_text("{}", encoding="utf-8")
    malformed = signoff("audit", "verify", "-c", str(checkpoint), "--public-key", str(public), *project, env=env)
    assert malformed.returncode == 2 and "seq: must be a whole number" in malformed.stderr
