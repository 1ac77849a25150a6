"""Write working example projects: ``signoff init`` (credit approval) and ``signoff demo`` (plus cancer triage
and digit transcription).

Everything is generated or ships with scikit-learn, so no download is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from signoff.config import FieldSpec, Project, parse_project
from signoff.learning.train import save, train
from signoff.sim import credit

TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"

CREDIT_FIELDS: dict[str, dict[str, object]] = {
    "age": {"type": "integer", "min": 18, "max": 120},
    "income": {"type": "number", "min": 0},
    "debt_to_income": {"type": "number", "min": 0, "max": 5},
    "credit_history_years": {"type": "number", "min": 0},
    "late_payments": {"type": "integer", "min": 0},
    "loan_amount": {"type": "number", "min": 0},
    "student": {"type": "category", "values": ["yes", "no"]},
    "customer_id": {"type": "string", "required": False, "max_length": 40},
}
MODEL_INPUTS = [f for f in CREDIT_FIELDS if f not in ("student", "customer_id")]  # no group, no identity
TRAINING_ROWS = 5000  # the example model learns from the first applicants generated; the cases to ingest follow
LABELLED_ROWS = 2000  # past applications with known outcomes in credit-labelled.csv, enough to certify at alpha 0.05


def credit_flow() -> dict[str, object]:
    return {
        "description": "Approve or decline a credit application; uncertain ones go to an underwriter.",
        "labels": list(credit.LABELS),
        "fields": CREDIT_FIELDS,
        "groups": ["student"],
        "entity": "customer_id",
        "model": {"kind": "sklearn", "path": "models/credit.skops", "trusted_types": [TREE_PREDICTOR]},
        "policy": [
            {
                "name": "uncertain-risk",
                "kind": "band",
                "label": "decline",
                "low": 0.2,
                "high": 0.8,
                "review": "inside",
                "queue": "underwriting",
                "priority": 10,
            },
            {"name": "low-confidence", "kind": "threshold", "min_confidence": 0.85, "queue": "underwriting"},
        ],
        "queues": {"underwriting": {"role": "reviewer", "lease_ttl": 300}},
        "costs": {"per_review": 4.0, "per_case": 0.002, "currency": "USD"},
        "audit": {"rate": 0.02},
    }


def _field_specs(fields: dict[str, dict[str, object]]) -> dict[str, FieldSpec]:
    return {name: FieldSpec.model_validate(spec) for name, spec in fields.items()}


def _credit(folder: Path, cases: int, seed: int, step: Callable[[str], None]) -> pd.DataFrame:
    step(f"Generating {TRAINING_ROWS + cases:,} credit applications")
    data = credit.applicants(TRAINING_ROWS + cases, seed)
    training, incoming = data.iloc[:TRAINING_ROWS], data.iloc[TRAINING_ROWS:].reset_index(drop=True)
    step(f"Training the credit model on {TRAINING_ROWS:,} of them (the longest step)")
    known = {name: spec for name, spec in CREDIT_FIELDS.items() if name != "customer_id"}  # not in the training data
    model = train(training, training["label"], _field_specs(known), MODEL_INPUTS)
    save(model, folder / "models" / "credit.skops")
    ids = [f"app-{i:06d}" for i in range(len(incoming))]
    # The loans of the first three applications in five have run their course: their outcome is known.
    known_outcomes = (3 * len(incoming)) // 5
    outcomes = pd.DataFrame({"external_id": ids, "label": incoming["label"], "source": "bureau"})
    outcomes.head(known_outcomes).to_csv(folder / "credit-outcomes.csv", index=False)
    incoming = incoming.drop(columns="label")
    incoming.insert(0, "external_id", ids)
    # Returning customers: about one application in four comes from someone who applied before.
    customers = np.random.default_rng(seed).integers(0, max(1, (3 * len(incoming)) // 4), len(incoming))
    incoming["customer_id"] = [f"cust-{c:06d}" for c in customers]
    # Past applications whose outcome is known, drawn apart from the rest: what `signoff policy evaluate` replays.
    labelled = credit.applicants(LABELLED_ROWS, seed + 1)
    labelled.insert(0, "external_id", [f"past-{i:06d}" for i in range(LABELLED_ROWS)])
    labelled["customer_id"] = [f"past-cust-{i:06d}" for i in range(LABELLED_ROWS)]
    labelled.to_csv(folder / "credit-labelled.csv", index=False)
    return incoming


def _train_on_half(
    folder: Path,
    name: str,
    frame: pd.DataFrame,
    names: list[str],
    labels: pd.Series,
    fields: dict[str, dict[str, object]],
) -> pd.DataFrame:
    """Train a linear model on a fixed random half of ``frame`` (saved as models/<name>.skops); the other half."""
    train_part = frame.sample(frac=0.5, random_state=0)
    model = train(train_part, labels[train_part.index], _field_specs(fields), names, kind="linear")
    save(model, folder / "models" / f"{name}.skops")
    return frame.drop(train_part.index)


def _case_file(rest: pd.DataFrame, names: list[str], prefix: str) -> pd.DataFrame:
    """The cases to ingest: the fields, and an external id from the row's place in the source data."""
    cases = rest[names].reset_index(drop=True)
    cases.insert(0, "external_id", [f"{prefix}-{i:04d}" for i in rest.index])
    return cases


def _digits(folder: Path) -> tuple[dict[str, object], pd.DataFrame]:
    """Transcribe handwritten digits (UCI's 8x8 optical digits): reviewers see each one drawn from its pixels."""
    from sklearn.datasets import load_digits

    bunch = load_digits(as_frame=True)
    names = [f"pixel_{i}" for i in range(64)]
    frame = bunch.frame.set_axis([*names, "target"], axis=1)
    fields: dict[str, dict[str, object]] = {n: {"type": "number", "min": 0, "max": 16} for n in names}
    rest = _train_on_half(folder, "digits", frame, names, frame["target"].astype(str), fields).head(600)
    flow: dict[str, object] = {
        "description": "Transcribe handwritten digits (UCI optical digits, 8x8); unsure ones go to a person.",
        "labels": [str(d) for d in range(10)],
        "fields": fields,
        "images": {"digit": {"title": "Handwritten digit", "prefix": "pixel_", "width": 8, "height": 8, "high": 16}},
        "model": {"kind": "sklearn", "path": "models/digits.skops"},
        "policy": [{"name": "unsure", "kind": "threshold", "min_confidence": 0.95, "queue": "transcription"}],
        "queues": {"transcription": {"role": "reviewer", "lease_ttl": 120}},
        "costs": {"per_review": 0.5, "currency": "USD"},
    }
    return flow, _case_file(rest, names, "digit")


def _cancer(folder: Path) -> tuple[dict[str, object], pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    names = [c for c in frame.columns if c != "target"]
    labels = [str(bunch.target_names[t]) for t in frame["target"]]
    fields: dict[str, dict[str, object]] = {n: {"type": "number", "min": 0} for n in names}
    rest = _train_on_half(folder, "cancer", frame, names, pd.Series(labels, index=frame.index), fields)
    flow: dict[str, object] = {
        "description": "Triage breast-mass biopsies (Wisconsin diagnostic data); unsure ones go to a pathologist.",
        "labels": [str(t) for t in bunch.target_names],
        "fields": fields,
        "model": {"kind": "sklearn", "path": "models/cancer.skops"},
        "policy": [{"name": "unsure", "kind": "threshold", "min_confidence": 0.97, "queue": "pathology"}],
        "queues": {"pathology": {"role": "reviewer", "lease_ttl": 600}},
        "costs": {"per_review": 25.0, "currency": "USD"},
    }
    return flow, _case_file(rest, names, "biopsy")


@dataclass(frozen=True)
class Example:
    project: Project
    case_files: dict[str, Path]


def write_example(
    folder: Path,
    *,
    cases: int = 500,
    with_cancer: bool = False,
    seed: int = 7,
    step: Callable[[str], None] = lambda _: None,
) -> Example:
    """Write ``signoff.yaml``, trained models and case files into ``folder``, ``credit-outcomes.csv``: the
    true outcome of the first credit applications, as a credit bureau would later report them, and
    ``credit-labelled.csv``: past applications with their outcome, to replay a policy on. ``step`` is told
    as each long step starts (training takes a while on a small machine)."""
    folder.mkdir(parents=True, exist_ok=True)
    flows: dict[str, object] = {"credit-approval": credit_flow()}
    files = {"credit-approval": folder / "credit-cases.csv"}
    _credit(folder, cases, seed, step).to_csv(files["credit-approval"], index=False)
    if with_cancer:
        step("Training the breast-cancer triage model")
        flows["breast-cancer"], cancer_cases = _cancer(folder)
        files["breast-cancer"] = folder / "breast-cancer-cases.csv"
        cancer_cases.to_csv(files["breast-cancer"], index=False)
        step("Training the handwritten-digits model")
        flows["digits"], digit_cases = _digits(folder)
        files["digits"] = folder / "digits-cases.csv"
        digit_cases.to_csv(files["digits"], index=False)
    document = {"database_url": "sqlite:///signoff.db", "flows": flows}
    path = folder / "signoff.yaml"
    header = "# Signoff project: flows, their models, routing policies and review queues.\n"
    path.write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return Example(parse_project(document, path), files)
