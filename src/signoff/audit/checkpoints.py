"""Signed checkpoints: the chain's head at a moment, signed with Ed25519 and kept outside the database.

The hash chain shows an edit to anyone who does not re-hash. A database superuser can rewrite an event and
recompute every seal after it, and ``verify`` then passes. A checkpoint signed with a key the database never holds
fixes the hash of one seal at one moment: once an event up to that seal is rewritten, the seal's hash no longer
matches, whatever was recomputed. Keep the private key, and the checkpoint files, where the database's
administrators cannot write.

Imported only by the commands that need it: loading the cryptography package costs every other command ~30 ms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from signoff.audit.service import seal
from signoff.errors import InvalidInput, Problem, SignoffError
from signoff.store import audit as audit_store
from signoff.store.database import Database

FORMAT = "signoff-audit-checkpoint/1"
_SIGNED = ("format", "seq", "hash", "made_at")  # the fields the signature covers, in this order


class KeyFileError(SignoffError):
    """A key file is missing, unreadable, or not an Ed25519 key of the expected kind."""


def write_keys(private_path: Path, public_path: Path) -> str:
    """Make a new Ed25519 key pair: the private key as PKCS #8 PEM, readable by its owner only, and the public key
    as SubjectPublicKeyInfo PEM. Never overwrites a file. Returns the key id."""
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; keys are never overwritten (move it away or choose another path)")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(private_pem)
    public_path.write_bytes(public_pem)
    return key_id(key.public_key())


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of SHA-256 over its raw 32 bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = _load(path, "private")
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = _load(path, "public")
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def _load(path: Path, kind: str) -> Any:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read the {kind} key {path}: {error.strerror or error}") from error
    try:
        if kind == "private":
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        hint = "make one with `signoff audit keygen`"
        raise KeyFileError(f"{path} is not a PEM {kind} key without a passphrase ({error}); {hint}") from error


def _payload(document: dict[str, Any]) -> bytes:
    return json.dumps([document[field] for field in _SIGNED], separators=(",", ":"), ensure_ascii=True).encode()


def make(db: Database, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """Seal what is committed, then sign the last seal's number and hash with the database's time."""
    seal(db, full=True)
    with db.transaction(write=False) as conn:
        head = audit_store.last_seal(conn)
        now = db.now(conn)
    if head is None:
        raise SignoffError("the audit chain is empty: there is nothing to checkpoint yet")
    document: dict[str, Any] = {"format": FORMAT, "seq": head.seq, "hash": head.hash, "made_at": now.isoformat()}
    signature = private_key.sign(_payload(document))
    document["key_id"] = key_id(private_key.public_key())
    document["signature"] = base64.b64encode(signature).decode()
    return document


@dataclass(frozen=True)
class CheckpointCheck:
    """What one checkpoint says of the chain now: ``why`` is None when the chain still holds the signed head."""

    seq: int
    made_at: str
    why: str | None

    @property
    def ok(self) -> bool:
        return self.why is None


def read(path: Path) -> dict[str, Any]:
    """A checkpoint file, its shape checked; every problem named by its field."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(
            [Problem(str(path), f"cannot read it: {error.strerror or error}")], "no checkpoint"
        ) from error
    except ValueError as error:
        raise InvalidInput([Problem(str(path), f"not JSON: {error}")], "not a checkpoint file") from error
    if not isinstance(document, dict):
        raise InvalidInput([Problem(str(path), "must be a JSON object")], "not a checkpoint file")
    expected = {"format": str, "seq": int, "hash": str, "made_at": str, "key_id": str, "signature": str}
    problems = [
        Problem(f"{path}: {name}", f"must be {kind.__name__ if kind is str else 'a whole number'}")
        for name, kind in expected.items()
        if not isinstance(document.get(name), kind) or isinstance(document.get(name), bool)
    ]
    if not problems and document["format"] != FORMAT:
        problems.append(Problem(f"{path}: format", f"must be {FORMAT!r}, got {document['format']!r}"[:200]))
    if problems:
        raise InvalidInput(problems, f"{path} is not a valid checkpoint")
    return document


def check(db: Database, document: dict[str, Any], public_key: Ed25519PublicKey) -> CheckpointCheck:
    """Check the signature, then that the chain still holds the signed seal with the signed hash."""
    seq, made_at = document["seq"], document["made_at"]
    try:
        public_key.verify(base64.b64decode(document["signature"], validate=True), _payload(document))
    except (InvalidSignature, binascii.Error, ValueError):
        why = "its signature does not verify with this public key: it was made with another key, or edited"
        return CheckpointCheck(seq, made_at, why)
    with db.transaction(write=False) as conn:
        found = audit_store.seal_hash(conn, seq)
    if found is None:
        return CheckpointCheck(seq, made_at, f"the chain has no seal {seq} any more: sealed events were removed")
    if found != document["hash"]:
        why = (
            f"seal {seq} now has hash {found[:16]}..., not the signed {document['hash'][:16]}...: the chain was "
            "rewritten and re-hashed up to that seal"
        )
        return CheckpointCheck(seq, made_at, why)
    return CheckpointCheck(seq, made_at, None)
