"""Read a file of cases with known answers (for calibration, and for replaying a policy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from signoff.config import Flow
from signoff.errors import InvalidInput, Problem
from signoff.intake.files import read_chunks
from signoff.intake.validation import CaseInput, validate_case
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
    rows, labels, cases, problems = [], [], [], []
    for chunk, text in read_chunks(path):
        for row in chunk:
            fields = dict(row.fields)
            label = fields.pop(label_column, None)
            if label is None or str(label) not in flow.labels:
                problems.append(
                    Problem(f"{row.location}.{label_column}", f"must be one of {list(flow.labels)}, got {label!r}")
                )
            case, found = validate_case(flow, None, fields, row.location, text=text)
            problems.extend(found)
            if case is not None and not found:
                rows.append(case.fields)
                labels.append(str(label))
                cases.append(case)
        if len(problems) >= 50:
            break
    if problems:
        raise InvalidInput(problems, f"{path.name} is not a valid labelled file for flow {flow.name!r}")
    if not rows:
        raise InvalidInput([Problem(str(path), "holds no cases")])
    return Labelled(frame_of(flow, rows), labels, cases)
