"""Checkpoints as transparency logs publish them: a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) in a
C2SP signed note (https://c2sp.org/signed-note@v1.0.0), signed with Ed25519 (signature type 0x01).

    signoff.example/audit          <- origin: names the log; also the key name of its signature
    1048576                        <- tree size, decimal, no leading zeros
    CsUYapGGPo4dkMgIAUqom/Xa...=   <- root hash, base64 (RFC 4648 section 4)
                                   <- a blank line ends the note text
    — signoff.example/audit <base64(4-byte key id || 64-byte signature)>

The signature covers the note text (the three lines with their final newline). The key id is the first four bytes
of SHA-256(key name || 0x0A || 0x01 || the 32-byte public key). The same file verifies with any signed-note
implementation (Go's golang.org/x/mod/sumdb/note among them) given the verifier key ``vkey`` prints. No extension
lines: the spec advises against them, as monitors cannot audit them.

Imported only by the commands that need it (it loads the cryptography package).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from signoff.errors import SignoffError

ED25519 = 0x01  # the signed-note signature type of Ed25519
DASH = "\u2014"  # the em dash that starts a signature line
MAX_SIGNATURES = 100  # the spec asks verifiers to bound them, and to accept at least 16
_NAME = re.compile(r"[^\s+]+")  # key names and origins: non-empty, no Unicode space, no plus
_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteError(SignoffError):
    """A signed note or checkpoint is malformed, or no signature of the expected key verifies."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log's origin, its size in leaves, and the RFC 6962 root hash at that size. Made
    valid or not at all: the origin a key name, the size not negative, the root 32 bytes."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        check_name(self.origin, "origin")
        if self.size < 0 or len(self.root) != 32:
            raise NoteError(f"a checkpoint has a size of 0 or more and a 32-byte root, not {self.size}, {self.root!r}")

    def text(self) -> str:
        """The note text, final newline included: what the signature covers."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def check_name(name: str, what: str = "key name") -> str:
    if not _NAME.fullmatch(name):
        raise NoteError(f"{what} {name!r} must be non-empty, without spaces or '+' (e.g. signoff.example/audit)")
    return name


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + raw_public(public_key)).digest()[:4]


def vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key other signed-note tools take: ``name+hex(key id)+base64(0x01 || public key)``."""
    material = base64.b64encode(bytes([ED25519]) + raw_public(public_key)).decode()
    return f"{check_name(name)}+{key_id(name, public_key).hex()}+{material}"


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """A verifier key's name and Ed25519 public key; its key id must be the one the name and key give."""
    parts = text.strip().split("+")
    if len(parts) != 3:
        raise NoteError("a verifier key is name+keyid+key, three parts joined by '+'")
    name, hex_id, material = parts
    try:
        raw = base64.b64decode(material, validate=True)
    except binascii.Error as error:
        raise NoteError(f"the verifier key's key is not base64: {error}") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("the verifier key is not an Ed25519 key (type 0x01 and 32 bytes)")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(check_name(name), public_key).hex() != hex_id.lower():
        raise NoteError(f"the verifier key's id {hex_id} is not the one its name and key give")
    return name, public_key


def sign(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """A signed note of ``text`` (ending in a newline) with one Ed25519 signature under key ``name``."""
    _check_text(text)
    public_key = private_key.public_key()
    signature = key_id(check_name(name), public_key) + private_key.sign(text.encode())
    return f"{text}\n{DASH} {name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, name: str, public_key: Ed25519PublicKey) -> str:
    """The text of a signed note, once a signature by this key verifies. Signatures of other keys are ignored (as
    the spec requires); one of this key that does not verify rejects the note."""
    if not note.endswith("\n"):
        raise NoteError("a signed note ends with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("no blank line between the note's text and its signatures")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    _check_text(text)
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has {len(lines)} signature lines, more than {MAX_SIGNATURES}")
    wanted, verified = key_id(name, public_key), False
    for number, line in enumerate(lines, 1):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or not _NAME.fullmatch(parts[1]):
            raise NoteError(f"signature line {number} is not '{DASH} <key name> <base64 signature>'")
        try:
            signature = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise NoteError(f"signature line {number}: the signature is not base64") from None
        if len(signature) < 5:
            raise NoteError(f"signature line {number}: too short to hold a key id and a signature")
        if parts[1] != name or signature[:4] != wanted:
            continue  # another key's (a witness's, or the next key of a rotation)
        try:
            public_key.verify(signature[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"signature line {number}, by {name}, does not verify: the note was altered") from None
        verified = True
    if not verified:
        raise NoteError(f"no signature by key {name} ({wanted.hex()}): signed with another key, or not signed")
    return text


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note may hold no control character other than newline")


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint's signed note; the key name is the origin, as tlog-checkpoint recommends."""
    return sign(checkpoint.text(), checkpoint.origin, private_key)


def open_checkpoint(note: str, origin: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in a signed note, once the signature of ``origin``'s key verifies and its text is a
    checkpoint of that origin: exactly three lines, a size without leading zeros, a 32-byte root."""
    lines = open_note(note, origin, public_key).split("\n")[:-1]
    if len(lines) != 3:
        raise NoteError(f"a checkpoint's text is 3 lines (origin, size, root), not {len(lines)}")
    found, size, root = lines
    if found != origin:
        raise NoteError(f"the checkpoint is of log {found!r}, not {origin!r}")
    if not _SIZE.fullmatch(size):
        raise NoteError(f"the tree size {size!r} is not a decimal number without leading zeros")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not base64") from None
    if len(digest) != 32:
        raise NoteError(f"the root hash is {len(digest)} bytes, not 32")
    return Checkpoint(found, int(size), digest)
