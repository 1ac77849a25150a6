"""Read a file of cases with known answers (for calibration, and for replaying a policy), and the flow's
calibration file: below the services, so that intake, learning and metrics read it the same way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from signoff.config import Flow, Project
from signoff.errors import InvalidInput, Problem
from signoff.inputs.files import Row, read_chunks
from signoff.inputs.validation import MAX_FILE_PROBLEMS, CaseInput, Entry, validate_batch
from signoff.models import LoadedModel, Scores
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
        for number, (rows, text) in enumerate(read_chunks(path)):
            if number == 0 and rows and all(label_column not in row.fields for row in rows):
                # one line for the whole file, not one per row
                raise InvalidInput([Problem(str(path), f"has no label column {label_column!r}")])
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


def calibration_cases(project: Project, flow: Flow) -> Labelled:
    """The flow's calibration file (it must name one), read and validated."""
    assert flow.calibration.file is not None
    return read_labelled(flow, project.resolve(flow.calibration.file), flow.calibration.label_column)


@dataclass(frozen=True)
class CalibrationFile:
    """A flow's calibration file scored by a model: the cases' table, their true labels and the model's scores."""

    frame: pd.DataFrame
    labels: list[str]
    scores: Scores


def calibration_file(project: Project, flow: Flow, model: LoadedModel) -> CalibrationFile:
    """Read the flow's calibration file (it must name one) and score it: for calibration, and as the reference
    that drift is measured against."""
    labelled = calibration_cases(project, flow)
    return CalibrationFile(labelled.frame, labelled.labels, model.score(labelled.frame))
