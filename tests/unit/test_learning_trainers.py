"""Trainers and assessment, on training data built in memory: determinism, weights, entry points, partial_fit,
and a model the flow's adapters load from a skops file."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from helpers.builders import make_flow, make_project
from signoff.config import Flow
from signoff.domain import CaseId
from signoff.errors import ModelError
from signoff.learning import assess, train
from signoff.learning.datasets import Examples, TrainingData
from signoff.learning.records import TrainingSet
from signoff.learning.trainers import default_trainer, incremental, trainer_of
from signoff.models.adapters import load_model
from signoff.models.frames import frame_of

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def examples(flow: Flow, n: int, seed: int, weights: np.ndarray | None = None) -> Examples:
    """Cases whose chance of being 'bad' is their score; group and amount carry no signal."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, n)
    rows = [
        {"score": float(s), "amount": float(a), "group": str(g)}
        for s, a, g in zip(scores, rng.uniform(0, 100, n), rng.choice(["a", "b"], n), strict=True)
    ]
    return Examples(
        case_ids=tuple(CaseId(i) for i in range(1, n + 1)),
        frame=frame_of(flow, rows),
        labels=np.where(rng.uniform(0, 1, n) < scores, "bad", "good").astype(np.str_),
        weights=np.ones(n) if weights is None else weights,
    )


def data(flow: Flow, n: int = 300, seed: int = 1, weights: np.ndarray | None = None) -> TrainingData:
    record = TrainingSet(1, flow.name, (), (), NOW, NOW, NOW, None, "0" * 64, NOW, "tester")
    return TrainingData(flow, record, examples(flow, n, seed, weights), examples(flow, n // 4, seed + 1))


def test_training_twice_from_the_same_set_gives_identical_probabilities() -> None:
    flow = make_flow()
    first, second = default_trainer(data(flow)), default_trainer(data(flow))
    frame = examples(flow, 50, seed=9).frame
    assert np.array_equal(first.predict_proba(frame), second.predict_proba(frame))
    other = default_trainer(data(flow, seed=2))
    assert not np.array_equal(first.predict_proba(frame), other.predict_proba(frame))


def test_the_default_trainer_learns_and_its_probabilities_are_calibrated() -> None:
    flow = make_flow()
    training = data(flow, n=1000)
    model = default_trainer(training)
    assert [str(c) for c in model.classes_] == ["bad", "good"]
    found = assess.metrics(model, training)  # the validation part
    assert found["n"] == 250
    assert found["auc"] > 0.75 and found["accuracy"] > 0.65 and found["ece"] < 0.12
    # the group attribute is not a feature: changing it changes nothing
    frame = training.validation.frame.copy()
    flipped = frame.assign(group=np.where(frame["group"] == "a", "b", "a"))
    assert np.array_equal(model.predict_proba(frame), model.predict_proba(flipped))


def test_sample_weights_change_what_the_default_trainer_learns() -> None:
    flow = make_flow()
    plain = data(flow)
    frame = plain.validation.frame
    heavy = np.where(plain.train.labels == "bad", 20.0, 1.0)
    weighted = data(flow, weights=heavy)
    bad = list(default_trainer(plain).classes_).index("bad")
    p_plain = default_trainer(plain).predict_proba(frame)[:, bad]
    p_weighted = default_trainer(weighted).predict_proba(frame)[:, bad]
    assert p_weighted.mean() > p_plain.mean() + 0.1


def test_the_default_trainer_refuses_a_set_without_two_examples_of_every_label() -> None:
    flow = make_flow()
    training = data(flow, n=40)
    only_good = Examples(
        training.train.case_ids,
        training.train.frame,
        np.array(["good"] * 39 + ["bad"]).astype(np.str_),
        training.train.weights,
    )
    with pytest.raises(ModelError, match=r"fewer than 2 training examples of 'bad'"):
        default_trainer(TrainingData(flow, training.training_set, only_good, training.validation))


def test_a_model_from_the_default_trainer_loads_through_the_adapters_from_a_skops_file(tmp_path: Path) -> None:
    flow = make_flow()
    model = default_trainer(data(flow))
    train.save(model, tmp_path / "models" / "trained.skops")
    spec = {"kind": "sklearn", "path": "models/trained.skops", "trusted_types": list(train.TRUSTED_TYPES)}
    project = make_project(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", model=spec)
    loaded = load_model(project, project.flows["test-flow"])
    frame = examples(flow, 30, seed=5).frame
    scores = loaded.score(frame)
    assert scores.valid.all()
    bad = list(model.classes_).index("bad")
    assert np.allclose(scores.probabilities[:, 1], model.predict_proba(frame)[:, bad])


def test_the_flow_names_its_own_trainer_as_an_entry_point() -> None:
    assert trainer_of(make_flow()) is default_trainer
    flow = make_flow(learning={"trainer": "helpers.trainers:sgd"})
    trainer = trainer_of(flow)
    assert trainer.__name__ == "helpers.trainers:sgd"
    model = trainer(data(flow))
    assert sorted(model.classes_) == ["bad", "good"]


@pytest.mark.parametrize(
    ("entry_point", "problem"),
    [
        ("helpers.trainers:not_a_classifier", r"returned a dict, not a fitted classifier with predict_proba"),
        ("helpers.trainers:other_labels", r"the model's classes \['no', 'yes'\] are not the flow's labels"),
    ],
)
def test_a_trainer_that_returns_what_no_adapter_can_score_is_refused(entry_point: str, problem: str) -> None:
    flow = make_flow(learning={"trainer": entry_point})
    with pytest.raises(ModelError, match=rf"flows\.test-flow\.learning\.trainer \({entry_point}\): {problem}"):
        trainer_of(flow)(data(flow))


def test_a_trainer_that_cannot_be_imported_is_reported_before_training() -> None:
    flow = make_flow(learning={"trainer": "helpers.no_such_module:train"})
    with pytest.raises(ModelError, match=r"flows\.test-flow\.learning\.trainer: cannot import module"):
        trainer_of(flow)


def test_incremental_updates_a_copy_of_a_model_with_partial_fit() -> None:
    flow = make_flow(learning={"trainer": "helpers.trainers:sgd"})
    model = trainer_of(flow)(data(flow, n=200))
    frame = examples(flow, 20, seed=8).frame
    before = model.predict_proba(frame)
    new = data(flow, n=200, seed=3)
    updated = incremental(model, new)
    assert np.array_equal(model.predict_proba(frame), before)  # the parent is left as it was
    assert not np.allclose(updated.predict_proba(frame), before)
    again = incremental(model, new)
    assert np.array_equal(updated.predict_proba(frame), again.predict_proba(frame))


def test_incremental_refuses_a_model_without_partial_fit() -> None:
    flow = make_flow()
    with pytest.raises(ModelError, match=r"CalibratedClassifierCV has no partial_fit; train a new model"):
        incremental(default_trainer(data(flow)), data(flow))


class Fixed:
    """A model whose probabilities the test chooses (columns in ``classes_`` order)."""

    def __init__(self, classes: list[str], probabilities: list[list[float]]) -> None:
        self.classes_ = np.array(classes)
        self.probabilities = np.array(probabilities)

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        return self.probabilities[: len(frame)]


def _examples(labels: list[str], weights: list[float] | None = None) -> Examples:
    n = len(labels)
    return Examples(
        tuple(CaseId(i) for i in range(n)),
        pd.DataFrame({"x": range(n)}),
        np.array(labels).astype(np.str_),
        np.ones(n) if weights is None else np.array(weights, dtype=float),
    )


def test_metrics_by_hand() -> None:
    model = Fixed(["good", "bad"], [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    found = assess.metrics(model, _examples(["good", "bad", "bad", "good"]))
    assert found["n"] == 4
    assert found["accuracy"] == 0.75  # the second case is wrong
    # log loss: -(ln .9 + ln .2 + ln .7 + ln .6) / 4
    assert found["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.2) + np.log(0.7) + np.log(0.6)) / 4)
    # bad ranks: 0.7 and 0.2 against 0.1 and 0.4: 3 of 4 pairs in order
    assert found["auc"] == pytest.approx(0.75)
    # top-label confidence 0.9, 0.8, 0.7, 0.6 in four bins, each right but the 0.8: (0.1 + 0.8 + 0.3 + 0.4) / 4
    assert found["ece"] == pytest.approx(0.4)


def test_metrics_are_weighted_and_leave_out_what_is_undefined() -> None:
    model = Fixed(["good", "bad"], [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    weighted = assess.metrics(model, _examples(["good", "bad", "bad", "good"], [1, 5, 1, 1]))
    assert weighted["accuracy"] == pytest.approx(3 / 8) and weighted["n"] == 4
    one_label = assess.metrics(model, _examples(["good", "good"]))
    assert "auc" not in one_label and one_label["accuracy"] == 1
    assert assess.metrics(model, _examples([])) == {"n": 0.0}


def test_multiclass_auc_is_the_mean_of_each_labels_one_against_the_rest() -> None:
    model = Fixed(["a", "b", "c"], [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    found = assess.metrics(model, _examples(["a", "b", "c", "b"]))
    # a: 0.6 above 0.2, 0.1, 0.5 -> 1; b: 0.5, 0.4 above 0.3, 0.2 -> 1; c: 0.7 above all -> 1
    assert found["auc"] == 1.0
    swapped = assess.metrics(model, _examples(["b", "a", "c", "b"]))
    # a (the second case, 0.2) against 0.6, 0.1, 0.5: 1 of 3; b (0.3, 0.4) against 0.5, 0.2: 2 of 4; c: 1
    assert swapped["auc"] == pytest.approx((1 / 3 + 2 / 4 + 1) / 3)


def test_the_how_to_lists_the_types_skops_must_trust() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "how-to" / "close-the-loop.md").read_text()
    listed = re.search(r"trusted_types:\n((?:\s+- \S+\n)+)", text)
    assert listed is not None
    assert [x for x in listed.group(1).split() if x != "-"] == list(train.TRUSTED_TYPES)
