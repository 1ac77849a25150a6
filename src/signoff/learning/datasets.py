"""Training sets: which labelled cases a model trains and validates on, recorded with their lineage.

Three rules keep a set free of leaks. A held-out share of the flow's cases, picked by a stable hash of the case id,
is never in any training set: it is the ground on which every model of the flow is compared. No label newer than
the set's window end is used, so a set can be rebuilt exactly as it was. And the split is by time: the set trains
on the past and validates on the latest cases, as the model will meet them in production.

Flagged cases are labelled because the policy sent them to people: they are the model's hard cases, and a model
trained on them alone learns a world where hard cases are the rule. The random audit sample (and the cases offered
to spare capacity) are drawn from everything the model decided, each with a known probability; weighting such a
label by the inverse of that probability lets it stand for the unlabelled cases it was drawn among.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from sqlalchemy import Row

from signoff import audit
from signoff.config import Flow
from signoff.domain import AuditEvent, CaseId, CaseStatus, LabelSource, content_hash, hash_point
from signoff.errors import InvalidInput, NotFound, Problem
from signoff.learning.records import Label, TrainingSet
from signoff.models.frames import frame_of
from signoff.store import training as store
from signoff.store.database import Database

WEIGHTED_SOURCES = frozenset({LabelSource.AUDIT, LabelSource.EXPLORATION})


@dataclass(frozen=True, eq=False)
class Examples:
    """Labelled cases as a model sees them: one frame row per case (``frame_of``), its label and its weight."""

    case_ids: tuple[CaseId, ...]
    frame: pd.DataFrame
    labels: npt.NDArray[np.str_]
    weights: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.case_ids)


@dataclass(frozen=True, eq=False)
class TrainingData:
    """What a trainer gets: the flow (its labels and fields), the recorded set, and its two parts as frames."""

    flow: Flow
    training_set: TrainingSet
    train: Examples
    validation: Examples


def held_out(flow: str, case_id: int, share: float) -> bool:
    """Whether the case is in the flow's held-out set: the first 8 bytes of sha256("<flow>:<case_id>"), read as
    a big-endian integer, below ``share`` of 2**64. Stable across processes, versions and databases; raising the
    share only adds cases (which older sets may have trained on: compare models on the share they were built
    with, recorded in ``training_sets.holdout``)."""
    return hash_point(f"{flow}:{case_id}".encode()) < share * 2**64


def weight(label: Label) -> float:
    """1 / the probability the case was drawn, for the random audit sample and exploration; 1 for the rest."""
    if label.source in WEIGHTED_SOURCES and label.inclusion_probability is not None:
        return 1.0 / label.inclusion_probability
    return 1.0


def build(
    db: Database,
    flow: Flow,
    labels: Sequence[Label],
    *,
    until: datetime,
    actor: str,
    policy_version: str | None = None,
) -> TrainingSet | None:
    """Record a training set from the flow's labels known at ``until``, split by ``split`` on the cases' times
    as the store has them; None when too few labels remain. The set, its examples and the ``training_set.built``
    event commit together. When the flow's latest set holds exactly these labels (the same SHA-256, holdout share
    and, example by example, the same times and inclusion probabilities), that set is returned and nothing is
    written: a retrain with no new labels, or one completing a run whose worker died just after recording its set,
    trains on the set already recorded rather than on a copy. Refused, with nothing written: a label outside the
    flow's labels, an impossible inclusion probability, two labels for one case, a case that does not exist,
    belongs to another flow or is a gold case."""
    if until.tzinfo is None:
        raise ValueError("until must be a timezone-aware UTC datetime")
    _check(flow, labels)
    spec = flow.learning
    with db.transaction(write=False) as conn:
        facts = store.case_facts(conn, sorted({label.case_id for label in labels}))
        _check_cases(flow, labels, facts)
        timed = [dataclasses.replace(label, case_created_at=facts[label.case_id].created_at) for label in labels]
        parts = split(flow, timed, until)
        train, validation = parts.train, parts.validation
        if not train:
            return None
        examples = [_example(label, "train") for label in train] + [
            _example(label, "validation") for label in validation
        ]
        sha = _sha256(flow.name, policy_version, examples)
        latest = store.latest_training_set(conn, flow.name)
    if latest is not None and latest.sha256 == sha and latest.holdout == spec.holdout:
        recorded = load(db, flow, latest.id)
        if (recorded.train, recorded.validation) == (train, validation):
            return recorded
    with db.transaction() as conn:
        now = db.now(conn)
        window = {
            "window_start": train[0].case_created_at,
            "window_end": until,
            "validation_start": validation[0].case_created_at,
        }
        columns: dict[str, Any] = {  # the set's row, and the record returned
            "flow": flow.name,
            "policy_version": policy_version,
            "sha256": sha,
            "created_at": now,
            "created_by": actor,
            **window,
        }
        set_id = store.insert_training_set(conn, examples, holdout=spec.holdout, **columns)
        audit.record(
            db,
            conn,
            [
                AuditEvent(
                    actor,
                    "training_set.built",
                    "training_set",
                    str(set_id),
                    {
                        "flow": flow.name,
                        "sha256": sha,
                        "train": len(train),
                        "validation": len(validation),
                        "held_out": parts.held_out,
                        "too_new": parts.too_new,
                        "policy_version": policy_version,
                    }
                    | {key: value.isoformat() for key, value in window.items()},
                )
            ],
            now,
        )
    return TrainingSet(id=set_id, train=train, validation=validation, **columns)


@dataclass(frozen=True)
class Split:
    """Where ``split`` put the labels: the two parts, oldest case first, and how many it left out as held out, and
    (of the others) as newer than the window's end."""

    train: tuple[Label, ...]
    validation: tuple[Label, ...]
    held_out: int
    too_new: int


def split(flow: Flow, labels: Sequence[Label], until: datetime) -> Split:
    """Leave out the held-out cases and every label (or case) newer than ``until``; if at least
    ``flow.learning.min_labels`` remain, order them by case time (ties by case id) and put the latest
    ``flow.learning.validation`` share (rounded, at least one) in validation: no training case is newer than a
    validation case. Fewer: both parts empty."""
    hidden = {label.case_id for label in labels if held_out(flow.name, label.case_id, flow.learning.holdout)}
    shown = [label for label in labels if label.case_id not in hidden]
    newer = [label for label in shown if label.labelled_at > until or label.case_created_at > until]
    kept = sorted(
        (label for label in shown if label.labelled_at <= until and label.case_created_at <= until),
        key=lambda x: (x.case_created_at, x.case_id),
    )
    if len(kept) < flow.learning.min_labels:
        return Split((), (), len(hidden), len(newer))
    cut = len(kept) - max(1, round(len(kept) * flow.learning.validation))
    return Split(tuple(kept[:cut]), tuple(kept[cut:]), len(hidden), len(newer))


def _check(flow: Flow, labels: Sequence[Label]) -> None:
    problems: list[Problem] = []
    seen: set[int] = set()
    for i, label in enumerate(labels):
        where = f"labels[{i}] (case {label.case_id})"
        if label.label not in flow.labels:
            problems.append(Problem(where, f"{label.label!r} is not a label of flow {flow.name!r}"))
        p = label.inclusion_probability
        if p is not None and not 0 < p <= 1:
            problems.append(Problem(where, f"inclusion probability {p} is not in (0, 1]"))
        if label.source not in set(LabelSource):
            problems.append(Problem(where, f"{label.source!r} is not a label source"))
        if label.case_id in seen:
            problems.append(Problem(where, "a second label for the same case"))
        seen.add(label.case_id)
        if label.labelled_at.tzinfo is None:
            problems.append(Problem(where, "labelled_at is not timezone-aware"))
    if problems:
        raise InvalidInput(problems, f"cannot build a training set for flow {flow.name!r}")


def _check_cases(flow: Flow, labels: Sequence[Label], facts: dict[int, Row[Any]]) -> None:
    problems: list[Problem] = []
    for i, label in enumerate(labels):
        fact = facts.get(label.case_id)
        where = f"labels[{i}] (case {label.case_id})"
        if fact is None:
            problems.append(Problem(where, "no such case"))
        elif fact.flow != flow.name:
            problems.append(Problem(where, f"the case belongs to flow {fact.flow!r}"))
        elif fact.status == CaseStatus.GOLD:
            problems.append(Problem(where, "a gold case is a reviewer's test, never a training label"))
    if problems:
        raise InvalidInput(problems, f"cannot build a training set for flow {flow.name!r}")


def _example(label: Label, part: str) -> dict[str, object]:
    return {
        "case_id": label.case_id,
        "label": label.label,
        "source": str(label.source),
        "weight": weight(label),
        "part": part,
        "labelled_at": label.labelled_at,
        "inclusion_probability": label.inclusion_probability,
    }


def _sha256(flow: str, policy_version: str | None, examples: Sequence[dict[str, object]]) -> str:
    """sha256 of canonical JSON: the flow, the policy version and every example (case id, label, source, weight,
    part) by case id. The window's times follow from the cases, except its end: the same examples found at a later
    ``until`` are the same set, and give the same hash."""
    lineage = [
        [e["case_id"], e["label"], e["source"], e["weight"], e["part"]]
        for e in sorted(examples, key=lambda e: cast(int, e["case_id"]))
    ]
    document = {"flow": flow, "policy_version": policy_version, "examples": lineage}
    return content_hash(document)


def load(db: Database, flow: Flow, training_set_id: int) -> TrainingSet:
    """A recorded set of this flow, as ``build`` returned it."""
    with db.transaction(write=False) as conn:
        row = store.training_set(conn, training_set_id)
        if row is None or row.flow != flow.name:
            raise NotFound("training set", training_set_id)
        rows = store.examples(conn, training_set_id)
    parts: dict[str, list[Label]] = {"train": [], "validation": []}
    for example in rows:
        parts[example.part].append(
            Label(
                case_id=CaseId(example.case_id),
                label=example.label,
                source=LabelSource(example.source),
                labelled_at=example.labelled_at,
                case_created_at=example.case_created_at,
                inclusion_probability=example.inclusion_probability,
            )
        )
    columns = {f.name: getattr(row, f.name) for f in dataclasses.fields(TrainingSet) if f.name not in parts}
    return TrainingSet(**columns, train=tuple(parts["train"]), validation=tuple(parts["validation"]))


def frames(db: Database, flow: Flow, training_set: TrainingSet) -> TrainingData:
    """The set's cases as frames the model sees, with labels and weights, for its train and validation parts."""
    ids = [label.case_id for label in (*training_set.train, *training_set.validation)]
    with db.transaction(write=False) as conn:
        fields = store.case_fields(conn, ids)
    return TrainingData(
        flow=flow,
        training_set=training_set,
        train=_examples(flow, training_set.train, fields),
        validation=_examples(flow, training_set.validation, fields),
    )


def holdout_data(db: Database, flow: Flow, labels: Sequence[Label]) -> Examples:
    """The held-out cases among ``labels``, oldest first: where every model of the flow is assessed."""
    hidden = sorted(
        (label for label in labels if held_out(flow.name, label.case_id, flow.learning.holdout)),
        key=lambda x: (x.case_created_at, x.case_id),
    )
    return examples_of(db, flow, hidden)


def examples_of(db: Database, flow: Flow, labels: Sequence[Label]) -> Examples:
    """The labelled cases as a model sees them, in the order given."""
    with db.transaction(write=False) as conn:
        fields = store.case_fields(conn, [label.case_id for label in labels])
    return _examples(flow, labels, fields)


def _examples(flow: Flow, labels: Sequence[Label], fields: dict[int, dict[str, object]]) -> Examples:
    missing = [label.case_id for label in labels if label.case_id not in fields]
    if missing:
        raise NotFound("case", missing[0])
    return Examples(
        case_ids=tuple(label.case_id for label in labels),
        frame=frame_of(flow, [fields[label.case_id] for label in labels]),
        labels=np.array([label.label for label in labels], dtype=np.str_),
        weights=np.array([weight(label) for label in labels], dtype=np.float64),
    )


EXAMPLE_COLUMNS = (
    "case_id",
    "part",
    "label",
    "source",
    "weight",
    "inclusion_probability",
    "labelled_at",
    "case_created_at",
)
LINEAGE_KEY = b"signoff.lineage"


def arrow_table(db: Database, flow: Flow, training_set_id: int | None = None) -> pa.Table:
    """A recorded set (by id; None: the flow's latest) as an Arrow table to write as Parquet: one row per example,
    train then validation, oldest case first, with ``EXAMPLE_COLUMNS``, then the case's fields in the flow's order
    as the model sees them (``frame_of``; a field named like an example column is ``fields.<name>``). The set's
    lineage travels in the schema's metadata under ``signoff.lineage`` (JSON): its id, flow, SHA-256 (``_sha256``
    of the rows' case id, label, source, weight and part, so a reader can check it), window, policy version,
    held-out share, who built it and when, and the model versions trained on it."""
    with db.transaction(write=False) as conn:
        row = store.latest_training_set(conn, flow.name) if training_set_id is None else None
        if training_set_id is None and row is None:
            raise NotFound("training set of flow", flow.name)
        set_id = int(row.id) if row is not None else training_set_id
        assert set_id is not None
        versions = store.trained_on(conn, set_id)
        row = store.training_set(conn, set_id)
    recorded = load(db, flow, set_id)  # refuses a set of another flow, or none
    assert row is not None
    data = frames(db, flow, recorded)
    labels = (*recorded.train, *recorded.validation)
    examples = pd.DataFrame(
        {
            "case_id": pd.array([label.case_id for label in labels], dtype="int64"),
            "part": ["train"] * len(recorded.train) + ["validation"] * len(recorded.validation),
            "label": [label.label for label in labels],
            "source": [str(label.source) for label in labels],
            "weight": [weight(label) for label in labels],
            "inclusion_probability": pd.array([label.inclusion_probability for label in labels], dtype="Float64"),
            "labelled_at": pd.to_datetime([label.labelled_at for label in labels], utc=True),
            "case_created_at": pd.to_datetime([label.case_created_at for label in labels], utc=True),
        }
    )
    fields = pd.concat([data.train.frame, data.validation.frame], ignore_index=True)
    fields.columns = [f"fields.{name}" if name in EXAMPLE_COLUMNS else name for name in fields.columns]
    table = pa.Table.from_pandas(pd.concat([examples, fields], axis=1), preserve_index=False)
    lineage = {
        "training_set_id": recorded.id,
        "flow": recorded.flow,
        "sha256": recorded.sha256,
        "policy_version": recorded.policy_version,
        "window_start": recorded.window_start.isoformat(),
        "window_end": recorded.window_end.isoformat(),
        "validation_start": recorded.validation_start.isoformat(),
        "holdout": row.holdout,
        "created_at": recorded.created_at.isoformat(),
        "created_by": recorded.created_by,
        "model_versions": versions,
        "train": len(recorded.train),
        "validation": len(recorded.validation),
    }
    metadata = {**(table.schema.metadata or {}), LINEAGE_KEY: json.dumps(lineage, sort_keys=True).encode()}
    return table.replace_schema_metadata(metadata)
