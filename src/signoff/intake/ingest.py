"""Ingest a whole file: validate every row first, then submit it chunk by chunk with progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from signoff.config import Flow
from signoff.errors import InvalidInput, Problem
from signoff.intake.files import read_chunks
from signoff.intake.runtime import FlowRuntime, refresh
from signoff.intake.service import submit
from signoff.intake.validation import validate_case
from signoff.store.database import Database


@dataclass(frozen=True)
class IngestReport:
    read: int
    created: int
    replayed: int
    to_review: int


def validate_file(flow: Flow, path: Path, progress: Callable[[int], None] = lambda _n: None) -> int:
    """First pass: validate every row, so that a bad row anywhere means nothing is written."""
    problems: list[Problem] = []
    count = 0
    for rows, text in read_chunks(path):
        for row in rows:
            _case, found = validate_case(flow, row.external_id, row.fields, row.location, text=text)
            problems.extend(found)
        count += len(rows)
        progress(len(rows))
        if len(problems) >= 50:
            break
    if problems:
        raise InvalidInput(problems, f"{path.name} has invalid cases; nothing was written")
    return count


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
    for rows, text in read_chunks(path, chunk_size):
        cases = []
        for row in rows:
            case, problems = validate_case(runtime.flow, row.external_id, row.fields, row.location, text=text)
            if case is None:
                raise InvalidInput(problems, f"{path.name} changed while it was read")
            cases.append(case)
        refresh(db, current)  # a long file takes in the reviews and the champion of meanwhile, as a server does
        runtime = current[runtime.flow.name]
        results = submit(db, runtime, cases, actor)
        read += len(rows)
        created += sum(r.created for r in results)
        to_review += sum(r.created and r.verdict == "review" for r in results)
        progress(len(rows))
    return IngestReport(read=read, created=created, replayed=read - created, to_review=to_review)
