"""The records the learning loop passes between its steps: a usable label, and a training set with its lineage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signoff.domain import CaseId, LabelSource


@dataclass(frozen=True)
class Label:
    """One case's usable label: resolved where humans or outcomes disagreed, never a gold case's.

    ``labelled_at`` is when the label became known (a training window never takes a label newer than its end);
    ``case_created_at`` orders cases in time for the split; ``inclusion_probability`` is the chance the case was
    drawn into the random audit sample, or offered to spare capacity by active learning (its training weight is the
    inverse), ``None`` for any other source."""

    case_id: CaseId
    label: str
    source: LabelSource
    labelled_at: datetime
    case_created_at: datetime
    inclusion_probability: float | None = None


@dataclass(frozen=True)
class TrainingSet:
    """A recorded training set: which cases it trains and validates on, with which labels, from which window."""

    id: int
    flow: str
    train: tuple[Label, ...]
    validation: tuple[Label, ...]
    window_start: datetime
    window_end: datetime
    validation_start: datetime
    policy_version: str | None
    sha256: str
    created_at: datetime
    created_by: str
