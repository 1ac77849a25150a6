"""Merkle checkpoints: tree building, checkpoint, proof and verification rates, beside a bare hashing floor.

On SQLite (a file in a temporary folder) and on PostgreSQL (a database of its own, dropped at the end):

1. ``--events`` audit events (default 200,000; as bench/audit_chain.py writes them) are written and sealed (not
   timed here: bench/audit_chain.py measures sealing).
2. Build. ``transparency.grow`` adds every sealed event to the stored tree from empty: reads each seal's bytes,
   hashes the leaf, and stores every complete subtree (two rows per event), in transactions of 10,000 leaves.
3. Checkpoint. ``--step`` (default 10,000) more events are sealed, then ``transparency.publish`` grows the tree by
   them, signs a checkpoint and writes it to a folder: what the worker does every ``every_events``; timed per
   checkpoint, ``--rounds`` times, best kept.
4. Prove. ``--proofs`` inclusion proofs (default 2,000) of events drawn at random, each ``transparency.prove`` in
   its own read transaction against the latest checkpoint; then each checked as an auditor would, without the
   database (``transparency.check_proof``: the checkpoint's Ed25519 signature, then the path). Then consistency
   proofs between the checkpoints of step 3.
5. Verify. ``transparency.verify_checkpoints`` over the folder: every signature, every root recomputed from the
   events in one pass, and the consistency proof between each checkpoint and the next.
6. The floor, in the same run: the same seals' bytes read with one streaming SELECT and the whole tree hashed in
   memory (SHA-256 of every leaf and node, nothing stored): what building or checking the tree costs if nothing
   else did. Build / floor and verify / floor say how close they come. A proof's floor is the same path read from
   an in-memory dict of the tree's nodes: what a proof costs without a database round trip.

Run: ``make bench-merkle`` or ``.venv/bin/python bench/merkle_checkpoints.py`` (``--events 1000000`` for the figures in
docs/reference/benchmarks.md). It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from audit_chain import write_events
from review_queue import DEFAULT_POSTGRES, console, load_average, machine_facts, signoff_database
from rich.table import Table
from sqlalchemy import select

from signoff import audit
from signoff.audit import checkpoints, merkle, transparency
from signoff.config.flows import Checkpoints
from signoff.store.database import Database
from signoff.store.schema import audit_seals

ORIGIN = "bench.example/audit"


@dataclass(frozen=True)
class Result:
    backend: str
    events: int
    build_seconds: float
    floor_seconds: float
    checkpoint_seconds: float
    step: int
    proofs: int
    prove_seconds: float
    proof_floor_seconds: float
    check_seconds: float
    consistency_seconds: float
    consistencies: int
    verify_seconds: float
    verified_events: int
    intact: bool


def floor(db: Database) -> tuple[float, dict[merkle.Node, bytes]]:
    """Every seal's bytes read with one streaming SELECT and the tree hashed in memory: seconds, and the nodes."""
    started = time.perf_counter()
    edge, nodes = merkle.Frontier(), {}
    with db.transaction(write=False) as conn:
        query = select(audit_seals.c.body).order_by(audit_seals.c.seq).execution_options(yield_per=10_000)
        for (body,) in conn.execute(query):
            for level, index, value in edge.append(merkle.leaf_hash(bytes(body))):
                nodes[(level, index)] = value
    return time.perf_counter() - started, nodes


def nodes_of(nodes: dict[merkle.Node, bytes]) -> Callable[[Iterable[merkle.Node]], dict[merkle.Node, bytes]]:
    return lambda wanted: {node: nodes[node] for node in wanted}


def run(backend: str, postgres_url: str, n: int, step: int, proofs: int, rounds: int) -> Result:
    with signoff_database(backend, postgres_url) as (db, _project), tempfile.TemporaryDirectory() as folder:
        keys = Path(folder)
        checkpoints.write_keys(keys / "k", keys / "k.pub")
        private = checkpoints.load_private_key(keys / "k")
        public = checkpoints.load_public_key(keys / "k.pub")
        settings = Checkpoints(url=str(keys / "published"), origin=ORIGIN, public_key=str(keys / "k.pub"))
        write_events(db, n)
        with console.status(f"{backend}: sealing {n:,} events (not timed)"):
            audit.seal(db)
        with console.status(f"{backend}: building the tree over {n:,} events"):
            started = time.perf_counter()
            size = transparency.grow(db)
            build_seconds = time.perf_counter() - started
        transparency.publish(db, settings, private, force=True)
        checkpoint_seconds = []
        for _round in range(rounds):
            write_events(db, step)
            audit.seal(db)
            with console.status(f"{backend}: a checkpoint of {step:,} more events"):
                started = time.perf_counter()
                written = transparency.publish(db, settings, private, force=True)
                checkpoint_seconds.append(time.perf_counter() - started)
            assert written is not None
        with console.status(f"{backend}: the floor"):
            floor_seconds, nodes = floor(db)
        size = written.size
        ids = random.Random(7).sample(range(1, size + 1), min(proofs, size))
        with console.status(f"{backend}: {len(ids):,} inclusion proofs"):
            started = time.perf_counter()
            documents = [transparency.prove(db, event_id) for event_id in ids]
            prove_seconds = time.perf_counter() - started
        started = time.perf_counter()
        get = nodes_of(nodes)
        for event_id in ids:  # event ids are seal numbers here: written in one go, sealed in order
            merkle.hashes_of(merkle.inclusion_ranges(event_id - 1, size), get)
        proof_floor_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for document in documents:
            transparency.check_proof(document, public)
        check_seconds = time.perf_counter() - started
        sizes = [int(p.name) for p in (keys / "published" / "checkpoints").iterdir()]
        started = time.perf_counter()
        for old in sorted(sizes)[:-1]:
            transparency.check_proof(transparency.prove_consistency(db, old), public)
        consistency_seconds = time.perf_counter() - started
        with console.status(f"{backend}: verifying {len(sizes)} checkpoints"):
            started = time.perf_counter()
            report = transparency.verify_checkpoints(db, settings.url, public, ORIGIN)
            verify_seconds = time.perf_counter() - started
    return Result(
        backend,
        n,
        build_seconds,
        floor_seconds,
        min(checkpoint_seconds),
        step,
        len(ids),
        prove_seconds,
        proof_floor_seconds,
        check_seconds,
        consistency_seconds,
        len(sizes) - 1,
        verify_seconds,
        report.largest,
        report.problem is None,
    )


def report(results: list[Result], facts: list[str]) -> None:
    console.rule("Signoff Merkle checkpoints")
    for fact in facts:
        console.print(fact, highlight=False)
    table = Table(title="Build, checkpoint, prove, verify")
    columns = (
        "backend",
        "events",
        "build events/s",
        "floor events/s",
        "build/floor",
        "checkpoint of +step",
        "proofs/s",
        "floor proofs/s",
        "checks/s",
        "consistency proofs/s",
        "verify events/s",
        "verify/floor",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "backend" else "right")
    for r in results:
        floor_rate = r.events / r.floor_seconds
        verify_rate = r.verified_events / r.verify_seconds
        table.add_row(
            r.backend,
            f"{r.events:,}",
            f"{r.events / r.build_seconds:,.0f}",
            f"{floor_rate:,.0f}",
            f"{r.floor_seconds / r.build_seconds:.2f}",
            f"{r.checkpoint_seconds * 1000:,.0f} ms (+{r.step:,})",
            f"{r.proofs / r.prove_seconds:,.0f}",
            f"{r.proofs / r.proof_floor_seconds:,.0f}",
            f"{r.proofs / r.check_seconds:,.0f}",
            f"{r.consistencies / r.consistency_seconds:,.0f}",
            f"{verify_rate:,.0f}" + ("" if r.intact else " (NOT intact!)"),
            f"{verify_rate / floor_rate:.2f}",
        )
    console.print(table)


OPTIONS = {  # flag: (type, default, help)
    "--backends": (str, "sqlite,postgresql", "comma-separated: sqlite, postgresql"),
    "--events": (int, 200_000, "events in the tree"),
    "--step": (int, 10_000, "events added before each timed checkpoint"),
    "--proofs": (int, 2000, "inclusion proofs made and checked"),
    "--rounds": (int, 3, "timed checkpoints; the best is kept"),
    "--postgres-url": (str, DEFAULT_POSTGRES, "the server in which a database is made and dropped"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, (kind, default, meaning) in OPTIONS.items():
        parser.add_argument(flag, type=kind, default=default, help=meaning)
    args = parser.parse_args()
    load_before = load_average()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = [run(b, args.postgres_url, args.events, args.step, args.proofs, args.rounds) for b in backends]
    report(results, machine_facts(args.postgres_url if "postgresql" in backends else None, load_before))


if __name__ == "__main__":
    main()
