"""Read a file of cases with known answers (for calibration, and for replaying a policy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from signoff.config import Flow
from signoff.errors import InvalidInput, Problem
from signoff.intake.files import Row, read_chunks
from signoff.intake.validation import MAX_FILE_PROBLEMS, CaseInput, Entry, validate_batch
from signoff.models.frames import frame_of


@dataclass(frozen=True)
class Labelled:
    frame: pd.DataFrame
    labels: list[str]
    cases: list[CaseInput]


def read_labelled(flow: Flow, path: Path, label_column: str = "label") -> Labelled:
    """Every row must be a valid case plus its label, one of the flow's labels; any bad row refuses the file."""
    if not path.is_file():
        raise InvalidInput([Problem(str(path), "labelled file not found")])

    def chunks() -> Iterator[list[Entry]]:
        for rows, text in read_chunks(path):
            yield [_labelled(row, label_column, text) for row in rows]

    refused = f"{path.name} is not a valid labelled file for flow {flow.name!r}"
    batch = validate_batch(flow, chunks(), refused, label=label_column, limit=MAX_FILE_PROBLEMS)
    if not batch.cases:
        raise InvalidInput([Problem(str(path), "holds no cases")])
    return Labelled(frame_of(flow, [case.fields for case in batch.cases]), batch.labels, batch.cases)


def _labelled(row: Row, label_column: str, text: bool) -> Entry:
    """A row of a labelled file: its label column is the known answer, not a field; its external id is not read."""
    fields = dict(row.fields)
    label = fields.pop(label_column, None)
    return Entry(row.location, None, fields, text, label)
