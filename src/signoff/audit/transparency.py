"""Merkle checkpoints of the audit trail, as a transparency log publishes them: the tree over the sealed events
(``audit.merkle``) kept up to date in the store, signed checkpoints (``audit.note``) written outside the database,
inclusion and consistency proofs, and the check of a folder of checkpoints against the database.

The hash chain alone cannot catch a superuser who rewrites an event and re-hashes everything after it. A checkpoint
signed with a key the database never holds, and kept where its administrators cannot write, fixes the root of the
tree over every event up to its size: the rewrite changes that root. A consistency proof between two checkpoints
shows that the later one extends the earlier, so no event before the earlier one changed in between; an inclusion
proof shows one event in a checkpoint with O(log n) hashes, checkable without the database.

Imported only by the commands and pages that need it (it loads the cryptography package and fsspec).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import fsspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection

from signoff.audit import merkle
from signoff.audit.chain import row_body
from signoff.audit.checkpoints import load_public_key
from signoff.audit.note import Checkpoint, NoteError, open_checkpoint, sign_checkpoint
from signoff.config.flows import Checkpoints
from signoff.errors import InvalidInput, NotFound, Problem, SignoffError
from signoff.store import merkle as tree_store
from signoff.store.database import Database
from signoff.store.records import StoredCheckpoint

LATEST = "checkpoint"  # the file that holds the newest checkpoint, as transparency logs serve it
HISTORY = "checkpoints"  # the folder that keeps every checkpoint, one file per tree size
PROOF_FORMAT = "signoff-merkle-proof/1"
BATCH = 10_000  # leaves added to the stored tree per transaction


class TreeError(SignoffError):
    """The stored tree cannot be extended: a seal is missing, or an unsealed event lost its bytes."""


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _edge(conn: Connection, size: int) -> merkle.Frontier:
    """The stored tree's right edge at ``size`` leaves."""
    wanted = merkle.pieces(0, size)
    found = tree_store.nodes(conn, wanted)
    if len(found) != len(wanted):
        raise TreeError(f"the stored tree lacks nodes of its own edge at {size} leaves: rebuild it (see the docs)")
    return merkle.Frontier.at(size, [found[node] for node in wanted])


def _leaf_bytes(conn: Connection, rows: list[Any]) -> Iterator[tuple[int, int, bytes]]:
    """(seq, event id, leaf bytes) of seal rows: the bytes the seal keeps, or the event encoded where it kept none."""
    missing = tree_store.events(conn, [row.event_id for row in rows if row.body is None])
    for row in rows:
        if row.body is not None:
            yield row.seq, row.event_id, bytes(row.body)
        elif row.event_id in missing:
            yield row.seq, row.event_id, row_body(row.event_id, missing[row.event_id])
        else:
            raise TreeError(f"seal {row.seq} keeps no bytes and its event {row.event_id} is gone: no leaf to add")


def grow(db: Database, batch: int = BATCH) -> int:
    """Add every sealed event not yet in the stored tree, in seal order; returns the tree's size (that of a busy
    builder elsewhere, unchanged, if another holds the lock). Each event is hashed once, ever: the cost of a call
    is that of the events sealed since the last."""
    while True:
        with db.transaction() as conn:
            if not db.run(conn, "lock_tree")[0].locked:
                return tree_store.tree_size(conn)
            size = tree_store.tree_size(conn)
            edge = _edge(conn, size)
            rows = tree_store.leaves(conn, size, batch)
            made: list[tuple[int, int, bytes]] = []
            for seq, _event_id, body in _leaf_bytes(conn, rows):
                if seq != edge.size + 1:
                    raise TreeError(f"seal {edge.size + 1} is missing; `signoff audit verify` names the damage")
                made.extend(edge.append(merkle.leaf_hash(body)))
            tree_store.add_nodes(conn, made)
        if len(rows) < batch:
            return edge.size


def _fs(url: str) -> tuple[Any, str]:
    fs, root = fsspec.core.url_to_fs(url)
    return fs, root.rstrip("/")


def publish(
    db: Database, settings: Checkpoints, private_key: Ed25519PrivateKey, *, force: bool = False
) -> StoredCheckpoint | None:
    """Grow the tree and, if due (``every_events`` new leaves, or ``every_seconds`` since the last checkpoint and
    at least one new leaf; at once with ``force``), sign a checkpoint of it and write it to ``settings.url``: the
    file ``checkpoints/SIZE`` first, then ``checkpoint`` (the latest). Returns the checkpoint written, if any."""
    size = grow(db)
    with db.transaction(write=False) as conn:
        last = tree_store.last_checkpoint(conn)
        now = db.now(conn)
    if last is not None and size <= last.size:
        return None
    if last is not None and not force:
        waited = (now - last.written_at).total_seconds()
        if size - last.size < settings.every_events and waited < settings.every_seconds:
            return None
    with db.transaction() as conn:
        if not db.run(conn, "lock_tree")[0].locked:
            return None
        size = tree_store.tree_size(conn)
        if size == 0 or tree_store.checkpoint(conn, size) is not None:
            return None
        root = _edge(conn, size).root()
        note = sign_checkpoint(Checkpoint(settings.origin, size, root), private_key)
        fs, folder = _fs(settings.url)
        fs.makedirs(f"{folder}/{HISTORY}", exist_ok=True)
        for name in (f"{HISTORY}/{size}", LATEST):  # the same bytes again if a rollback below makes a retry
            with fs.open(f"{folder}/{name}", "wb") as file:
                file.write(note.encode())
        now = db.now(conn)
        tree_store.add_checkpoint(conn, size, root, note, settings.url, now)
    return StoredCheckpoint(size, root, note, settings.url, now)


def latest(db: Database) -> StoredCheckpoint | None:
    """The latest checkpoint written (one row: pages show it instead of checking anything)."""
    with db.transaction(write=False) as conn:
        return tree_store.last_checkpoint(conn)


def _stored_checkpoint(conn: Connection, size: int | None) -> StoredCheckpoint:
    found = tree_store.last_checkpoint(conn) if size is None else tree_store.checkpoint(conn, size)
    if found is None:
        raise NotFound("checkpoint", "any" if size is None else size)
    return found


def prove(db: Database, event_id: int, size: int | None = None) -> dict[str, Any]:
    """An inclusion proof of a sealed event in a written checkpoint (the latest, or the one of ``size`` leaves), as
    a document ``check_proof`` verifies without the database: the event's leaf bytes, its index, the audit path
    and the signed checkpoint."""
    with db.transaction(write=False) as conn:
        sealed = tree_store.seal_of(conn, event_id)
        if sealed is None:
            raise NotFound("sealed audit event", event_id)
        seq = int(sealed.seq)
        signed = _stored_checkpoint(conn, size)
        if seq > signed.size:
            raise InvalidInput(
                [Problem("event", f"event {event_id} is seal {seq}, after the checkpoint of {signed.size} events")],
                "not in that checkpoint yet: the worker's next checkpoint will hold it",
            )
        ((_, _, leaf),) = _leaf_bytes(conn, [sealed])
        path = merkle.hashes_of(merkle.inclusion_ranges(seq - 1, signed.size), partial(tree_store.nodes, conn))
    return {
        "format": PROOF_FORMAT,
        "kind": "inclusion",
        "event_id": event_id,
        "leaf_index": seq - 1,
        "tree_size": signed.size,
        "leaf": _b64(leaf),
        "proof": [_b64(h) for h in path],
        "checkpoint": signed.note,
    }


def prove_consistency(db: Database, old: int, new: int | None = None) -> dict[str, Any]:
    """A consistency proof from the written checkpoint of ``old`` leaves to that of ``new`` (the latest)."""
    with db.transaction(write=False) as conn:
        first, second = _stored_checkpoint(conn, old), _stored_checkpoint(conn, new)
        if second.size < first.size:
            raise InvalidInput([Problem("sizes", f"{second.size} is smaller than {first.size}")], "no such proof")
        ranges = merkle.consistency_ranges(first.size, second.size)
        path = merkle.hashes_of(ranges, partial(tree_store.nodes, conn))
    return {
        "format": PROOF_FORMAT,
        "kind": "consistency",
        "old_size": first.size,
        "new_size": second.size,
        "proof": [_b64(h) for h in path],
        "old_checkpoint": first.note,
        "checkpoint": second.note,
    }


def _origin(note: str) -> str:
    return note.split("\n", 1)[0]


def _hashes(document: dict[str, Any], field: str) -> list[bytes]:
    values = document.get(field)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidInput([Problem(field, "must be a list of base64 strings")], "not a proof document")
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except binascii.Error as error:
        raise InvalidInput([Problem(field, f"not base64: {error}")], "not a proof document") from None


def _number(document: dict[str, Any], field: str) -> int:
    value = document.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput([Problem(field, "must be a whole number")], "not a proof document")
    return value


def _text(document: dict[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str):
        raise InvalidInput([Problem(field, "must be text")], "not a proof document")
    return value


def check_proof(document: dict[str, Any], public_key: Ed25519PublicKey, origin: str | None = None) -> str:
    """Verify a proof document from ``prove`` or ``prove_consistency``, with nothing but the public key: the
    checkpoints' signatures, then the proof against their roots, every element and count checked. Returns what it
    proves, in a sentence; raises ``NoteError`` or ``merkle.ProofError`` naming what failed."""
    if document.get("format") != PROOF_FORMAT or document.get("kind") not in ("inclusion", "consistency"):
        raise InvalidInput([Problem("format", f"must be {PROOF_FORMAT!r}, inclusion or consistency")], "not a proof")
    note = _text(document, "checkpoint")
    signed = open_checkpoint(note, origin or _origin(note), public_key)
    proof = _hashes(document, "proof")
    if document["kind"] == "inclusion":
        index, size = _number(document, "leaf_index"), _number(document, "tree_size")
        if size != signed.size:
            raise merkle.ProofError(f"the proof is for a tree of {size} leaves, the checkpoint of {signed.size}")
        (leaf,) = _hashes({"leaf": [document.get("leaf")]}, "leaf")
        merkle.verify_inclusion(index, size, merkle.leaf_hash(leaf), proof, signed.root)
        return f"leaf {index} (event {document.get('event_id')}) is in {signed.origin}'s checkpoint of {size} events"
    earlier = open_checkpoint(_text(document, "old_checkpoint"), signed.origin, public_key)
    old, new = _number(document, "old_size"), _number(document, "new_size")
    if (old, new) != (earlier.size, signed.size):
        raise merkle.ProofError(
            f"the proof is from {old} to {new} leaves, the checkpoints {earlier.size}, {signed.size}"
        )
    merkle.verify_consistency(old, new, earlier.root, signed.root, proof)
    return f"{signed.origin}'s checkpoint of {new} events extends the one of {old}"


@dataclass(frozen=True)
class CheckpointsReport:
    """What a folder of checkpoints says of the database: how many were checked, the largest size they sign, and
    the first problem (None when every signature, root and consistency proof holds)."""

    checked: int
    largest: int
    problem: str | None


def read_checkpoints(url: str) -> list[tuple[str, str]]:
    """(name, note) of every file in ``url``'s ``checkpoints/`` folder, by the tree size each is named after."""
    fs, folder = _fs(url)
    try:
        names = [str(p).rsplit("/", 1)[-1] for p in fs.ls(f"{folder}/{HISTORY}", detail=False)]
    except FileNotFoundError:
        raise InvalidInput([Problem(url, f"has no {HISTORY}/ folder")], "no checkpoints there") from None
    bad = [name for name in names if not name.isdigit()]
    if bad:
        raise InvalidInput([Problem(f"{url}/{HISTORY}/{bad[0]}", "not named after a tree size")], "not a checkpoint")
    found = []
    for name in sorted(names, key=int):
        with fs.open(f"{folder}/{HISTORY}/{name}", "rb") as file:
            raw: bytes = file.read()
        try:
            found.append((f"{HISTORY}/{name}", raw.decode("utf-8")))
        except UnicodeDecodeError:
            found.append((f"{HISTORY}/{name}", ""))  # reported as a note that does not open
    return found


def verify_checkpoints(
    db: Database, url: str, public_key: Ed25519PublicKey, origin: str | None = None
) -> CheckpointsReport:
    """Hold the database to every checkpoint in ``url``: each signature, each root recomputed from the sealed
    events' bytes (one pass over the events, whatever the number of checkpoints), and a consistency proof from the
    stored tree between each checkpoint and the next. Names the first checkpoint that fails, and the event that
    differs where the stored tree can show it."""
    signed: list[tuple[str, Checkpoint]] = []
    for name, text in read_checkpoints(url):
        try:
            found = open_checkpoint(text, origin or _origin(text), public_key)
        except NoteError as error:
            return CheckpointsReport(len(signed), _largest(signed), f"checkpoint {name}: {error}")
        if origin is None:
            origin = found.origin
        if name != f"{HISTORY}/{found.size}":
            why = f"checkpoint {name} signs a tree of {found.size} events: it was renamed"
            return CheckpointsReport(len(signed), _largest(signed), why)
        signed.append((name, found))
    if not signed:
        return CheckpointsReport(0, 0, f"no checkpoint in {url}/{HISTORY}")
    grow(db)
    problem = _roots(db, signed) or _consistent(db, signed)
    return CheckpointsReport(len(signed), _largest(signed), problem)


def _largest(signed: list[tuple[str, Checkpoint]]) -> int:
    return max((c.size for _, c in signed), default=0)


def _roots(db: Database, signed: list[tuple[str, Checkpoint]]) -> str | None:
    """Recompute the root at each checkpoint's size from the seals' bytes, in one pass; the first that differs,
    with the event that differs if the stored tree still matches the signed root."""
    edge, start = merkle.Frontier(), 0
    segment: list[tuple[int, bytes]] = []
    with db.transaction(write=False) as conn:
        pending = iter(signed)
        name, cp = next(pending)
        while True:
            while edge.size == cp.size:
                if edge.root() != cp.root:
                    return _mismatch(conn, name, cp, start, segment)
                start, segment = edge.size, []
                following = next(pending, None)
                if following is None:
                    return None
                name, cp = following
            rows = tree_store.leaves(conn, edge.size, min(BATCH, cp.size - edge.size))
            if not rows:
                return f"checkpoint {name} signs {cp.size} events; the database has sealed only {edge.size}"
            for seq, event_id, body in _leaf_bytes(conn, rows):
                if seq != edge.size + 1:
                    return f"checkpoint {name}: seal {edge.size + 1} is missing (the event after seal {edge.size})"
                hashed = merkle.leaf_hash(body)
                edge.append(hashed)
                segment.append((event_id, hashed))


def _mismatch(conn: Connection, name: str, cp: Checkpoint, start: int, segment: list[tuple[int, bytes]]) -> str:
    """Say where the events differ from checkpoint ``cp``, all of whose events before ``start`` matched an
    earlier one. The stored tree is trusted only as far as it leads to the signed root."""
    head = f"checkpoint {name} (size {cp.size}): the events no longer give its signed root"
    stored = dict(tree_store.level_hashes(conn, 0, start, cp.size))
    for index, (event_id, now) in enumerate(segment, start):
        kept = stored.get(index)
        if kept is None or kept == now:
            continue
        path = merkle.hashes_of(merkle.inclusion_ranges(index, cp.size), partial(tree_store.nodes, conn))
        try:
            merkle.verify_inclusion(index, cp.size, kept, path, cp.root)
        except merkle.ProofError:
            break
        return f"{head}; audit event {event_id} (seal {index + 1}) is not what was signed"
    return f"{head}; an event between seal {start + 1} and seal {cp.size} was changed"


def _consistent(db: Database, signed: list[tuple[str, Checkpoint]]) -> str | None:
    """A consistency proof from the stored tree between each checkpoint and the next, verified against both."""
    with db.transaction(write=False) as conn:
        for (_, earlier), (name, later) in itertools.pairwise(signed):
            ranges = merkle.consistency_ranges(earlier.size, later.size)
            try:
                path = merkle.hashes_of(ranges, partial(tree_store.nodes, conn))
                merkle.verify_consistency(earlier.size, later.size, earlier.root, later.root, path)
            except (merkle.ProofError, LookupError) as error:
                return f"checkpoint {name} does not extend the one of {earlier.size} events: {error}"
    return None


def checker(settings: Checkpoints, db: Database) -> Callable[[], str | None]:
    """The check of the configured checkpoints that a recorded verification runs beside the chain's: its first
    problem, or None."""

    def check() -> str | None:
        report = verify_checkpoints(db, settings.url, load_public_key(Path(settings.public_key)), settings.origin)
        return report.problem

    return check
