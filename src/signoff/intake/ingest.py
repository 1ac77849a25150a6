"""Ingest a whole file: validate every row first, then submit it chunk by chunk with progress."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from signoff.config import Flow
from signoff.inputs.files import Row, read_chunks
from signoff.inputs.validation import MAX_FILE_PROBLEMS, Entry, validate_batch
from signoff.intake.runtime import FlowRuntime, refresh
from signoff.intake.service import submit
from signoff.store.database import Database


@dataclass(frozen=True)
class IngestReport:
    read: int
    created: int
    replayed: int
    to_review: int


@contextmanager
def _settled() -> Iterator[None]:
    """Keep the cyclic garbage collector off what is already loaded (the model, the flow, the libraries) while a
    file is read: each full collection walked all of it again, every few thousand cases, and cost 40% of batch
    intake (bench/intake.py). ``gc.freeze`` is CPython's own way to say so; objects are still freed by reference
    counting, and the end of the file gives them back to the collector. (No ``gc.collect`` first: a full collection
    cost 0.27 s a pass in the profile; garbage frozen with the rest is collected after the file.)"""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def validate_file(flow: Flow, path: Path, progress: Callable[[int], None] = lambda _n: None) -> int:
    """First pass: validate every row, so that a bad row anywhere means nothing is written. How many rows."""
    count = 0

    def chunks() -> Iterator[list[Entry]]:
        nonlocal count
        for rows, text in read_chunks(path):
            yield _entries(rows, text)
            count += len(rows)
            progress(len(rows))

    refused = f"{path.name} has invalid cases; nothing was written"
    with _settled():
        validate_batch(flow, chunks(), refused, limit=MAX_FILE_PROBLEMS, keep=False)
    return count


def _entries(rows: Sequence[Row], text: bool) -> list[Entry]:
    """A file's rows as the entries of a batch."""
    return [Entry(row.location, row.external_id, row.fields, text) for row in rows]


def ingest_file(
    db: Database,
    runtime: FlowRuntime,
    path: Path,
    actor: str,
    progress: Callable[[int], None] = lambda _n: None,
    chunk_size: int = 5000,
) -> IngestReport:
    """Second pass: submit the file chunk by chunk. Rerunning after an interruption replays what was written
    (give cases an ``external_id`` column to make that exact)."""
    read = created = to_review = 0
    current = {runtime.flow.name: runtime}
    with _settled():
        for rows, text in read_chunks(path, chunk_size):
            changed = f"{path.name} changed while it was read"
            cases = validate_batch(runtime.flow, [_entries(rows, text)], changed).cases
            refresh(db, current)  # a long file takes in the reviews and the champion of meanwhile, as a server does
            runtime = current[runtime.flow.name]
            results = submit(db, runtime, cases, actor)
            read += len(rows)
            created += sum(r.created for r in results)
            to_review += sum(r.created and r.verdict == "review" for r in results)
            progress(len(rows))
    return IngestReport(read=read, created=created, replayed=read - created, to_review=to_review)
