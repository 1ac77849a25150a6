"""Scoring never raises: a broken model marks rows invalid. Loading names the flow field to fix."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from helpers import models
from helpers.builders import flow_document
from signoff.config import Project, parse_project
from signoff.errors import ModelError
from signoff.models.adapters import LoadedModel, load_model

FRAME = pd.DataFrame({"score": [0.2, 0.9]})


def _loaded(predict: Any, column_order: tuple[int, ...] | None = None) -> LoadedModel:
    return LoadedModel(
        flow="credit",
        labels=("good", "bad"),
        kind="python",
        uri="helpers.models:test",
        version="test-1",
        sha256=None,
        predict=predict,
        column_order=column_order,
    )


def _project(tmp_path: Path, model: dict[str, Any]) -> Project:
    return parse_project({"flows": {"credit": flow_document(model=model)}}, tmp_path / "signoff.yaml")


def _where(project: Project) -> str:
    return f"{project.path}: flows.credit.model"


def _train(classes: list[str]) -> LogisticRegression:
    features = pd.DataFrame({"score": [0.1, 0.2, 0.8, 0.9]})
    return LogisticRegression(C=100.0).fit(features, [classes[0], classes[0], classes[1], classes[1]])


def test_a_model_scores_every_row_in_label_order() -> None:
    scores = _loaded(models.by_score).score(FRAME)
    assert_allclose(scores.probabilities, [[0.8, 0.2], [0.1, 0.9]])
    assert scores.problems == [None, None]
    assert scores.valid.tolist() == [True, True]


def test_a_crashing_model_marks_every_row_invalid() -> None:
    scores = _loaded(models.crashes).score(FRAME)
    assert scores.problems == ["the model failed: RuntimeError: the model server is down"] * 2
    assert scores.probabilities.shape == (2, 2)
    assert np.isnan(scores.probabilities).all()
    assert scores.valid.tolist() == [False, False]


def test_a_model_returning_the_wrong_shape_marks_every_row_invalid() -> None:
    scores = _loaded(models.wrong_shape).score(FRAME)
    assert scores.problems == ["the model returned shape (2, 3), expected (2, 2)"] * 2
    assert np.isnan(scores.probabilities).all()


def test_rows_that_are_not_distributions_are_invalid_one_by_one() -> None:
    scores = _loaded(models.nan_for_negative).score(pd.DataFrame({"score": [0.2, 0.95]}))
    assert scores.problems == [None, "a probability is NaN or infinite"]
    assert scores.valid.tolist() == [True, False]


def test_column_order_puts_the_models_columns_in_label_order() -> None:
    scores = _loaded(models.by_score, column_order=(1, 0)).score(FRAME)
    assert_allclose(scores.probabilities, [[0.2, 0.8], [0.9, 0.1]])


def test_a_python_entry_point_is_loaded_with_its_declared_version(tmp_path: Path) -> None:
    project = _project(tmp_path, {"kind": "python", "entry_point": "helpers.models:by_score", "version": "v7"})
    model = load_model(project, project.flow("credit"))
    assert (model.flow, model.labels, model.kind, model.uri, model.version, model.sha256) == (
        "credit",
        ("good", "bad"),
        "python",
        "helpers.models:by_score",
        "v7",
        None,
    )
    assert model.predict is models.by_score


def test_an_unknown_entry_point_module_is_a_model_error(tmp_path: Path) -> None:
    project = _project(tmp_path, {"kind": "python", "entry_point": "helpers.nowhere:predict", "version": "1"})
    with pytest.raises(ModelError) as caught:
        load_model(project, project.flow("credit"))
    assert caught.value.message == (
        f"{_where(project)}: cannot import module 'helpers.nowhere': No module named 'helpers.nowhere'"
    )


def test_a_missing_entry_point_attribute_is_a_model_error(tmp_path: Path) -> None:
    project = _project(tmp_path, {"kind": "python", "entry_point": "helpers.models:missing", "version": "1"})
    with pytest.raises(ModelError) as caught:
        load_model(project, project.flow("credit"))
    assert caught.value.message == f"{_where(project)}: module 'helpers.models' has no attribute 'missing'"


def test_an_entry_point_that_is_not_callable_is_a_model_error(tmp_path: Path) -> None:
    project = _project(tmp_path, {"kind": "python", "entry_point": "helpers.models:np", "version": "1"})
    with pytest.raises(ModelError) as caught:
        load_model(project, project.flow("credit"))
    assert caught.value.message == f"{_where(project)}: helpers.models:np is not callable"


def test_a_missing_sklearn_file_is_a_model_error(tmp_path: Path) -> None:
    project = _project(tmp_path, {"kind": "sklearn", "path": "models/credit.skops"})
    with pytest.raises(ModelError) as caught:
        load_model(project, project.flow("credit"))
    missing = project.path.parent / "models" / "credit.skops"
    assert caught.value.message == f"{_where(project)}.path: model file {missing} not found"


def test_a_model_file_with_another_suffix_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "credit.txt").write_text("not a model")
    project = _project(tmp_path, {"kind": "sklearn", "path": "credit.txt"})
    with pytest.raises(ModelError) as caught:
        load_model(project, project.flow("credit"))
    assert caught.value.message == f"{_where(project)}.path: credit.txt is neither a .skops nor a .joblib file"


def test_a_skops_model_scores_in_the_flows_label_order(tmp_path: Path) -> None:
    estimator = _train(["good", "bad"])
    assert estimator.classes_.tolist() == ["bad", "good"]
    sio.dump(estimator, tmp_path / "credit.skops")
    project = _project(tmp_path, {"kind": "sklearn", "path": "credit.skops"})

    model = load_model(project, project.flow("credit"))
    scores = model.score(FRAME)

    assert model.column_order == (1, 0)
    assert scores.problems == [None, None]
    assert_allclose(scores.probabilities, estimator.predict_proba(FRAME)[:, [1, 0]])
    good, bad = scores.probabilities[0]
    assert good > 0.5 > bad


def test_a_skops_model_without_a_version_is_versioned_by_its_hash(tmp_path: Path) -> None:
    sio.dump(_train(["good", "bad"]), tmp_path / "credit.skops")
    project = _project(tmp_path, {"kind": "sklearn", "path": "credit.skops"})
    model = load_model(project, project.flow("credit"))
    sha = hashlib.sha256((tmp_path / "credit.skops").read_bytes()).hexdigest()
    assert (model.kind, model.uri, model.sha256, model.version) == (
        "sklearn",
        str(project.path.parent / "credit.skops"),
        sha,
        f"sha256:{sha[:12]}",
    )


def test_a_model_whose_classes_are_not_the_flows_labels_is_a_model_error(tmp_path: Path) -> None:
    sio.dump(_train(["approve", "deny"]), tmp_path / "credit.skops")
    project = _project(tmp_path, {"kind": "sklearn", "path": "credit.skops"})
    with pytest.raises(ModelError) as caught:
        load_model(project, project.flow("credit"))
    assert caught.value.message == (
        f"{_where(project)}.path: the model's classes ['approve', 'deny'] are not the flow's labels ['good', 'bad']"
    )


def test_member_models_give_the_ensemble_and_name_the_version(tmp_path: Path) -> None:
    sio.dump(_train(["good", "bad"]), tmp_path / "main.skops")
    for i, c in enumerate((1.0, 0.01)):
        features = pd.DataFrame({"score": [0.1, 0.2, 0.8, 0.9]})
        sio.dump(LogisticRegression(C=c).fit(features, ["good", "good", "bad", "bad"]), tmp_path / f"m{i}.skops")
    alone = load_model(*_flow_of(_project(tmp_path, {"kind": "sklearn", "path": "main.skops"})))
    both = load_model(
        *_flow_of(_project(tmp_path, {"kind": "sklearn", "path": "main.skops", "members": ["m0.skops", "m1.skops"]}))
    )
    frame = pd.DataFrame({"score": [0.15, 0.85]})
    members = both.members(frame)
    assert members is not None and members.shape == (2, 2, 2)
    assert_allclose(members.sum(axis=2), 1.0)
    assert alone.members(frame) is None
    assert both.version != alone.version and both.version.startswith("sha256:")


def test_a_missing_member_file_names_its_position(tmp_path: Path) -> None:
    sio.dump(_train(["good", "bad"]), tmp_path / "main.skops")
    project = _project(tmp_path, {"kind": "sklearn", "path": "main.skops", "members": ["gone.skops"]})
    with pytest.raises(ModelError, match=r"model\.members\[0\]: model file .*gone\.skops not found"):
        load_model(*_flow_of(project))


def _flow_of(project: Project) -> tuple[Project, Any]:
    return project, next(iter(project.flows.values()))


def _boosting() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    features = pd.DataFrame({"score": [0.1, 0.2, 0.3, 0.7, 0.8, 0.9] * 5})
    return HistGradientBoostingClassifier(max_iter=3).fit(features, ["good"] * 15 + ["bad"] * 15)


def test_a_skops_file_with_types_it_was_not_told_to_trust_is_refused_though_loaded_before(tmp_path: Path) -> None:
    sio.dump(_boosting(), tmp_path / "credit.skops")
    types = sio.get_untrusted_types(file=tmp_path / "credit.skops")
    assert types  # the trees' type is not one skops trusts by itself
    trusted = _project(tmp_path, {"kind": "sklearn", "path": "credit.skops", "trusted_types": types})
    assert load_model(*_flow_of(trusted)).score(FRAME).valid.all()
    with pytest.raises(ModelError, match=r"contains types skops does not trust: .*TreePredictor"):
        load_model(*_flow_of(_project(tmp_path, {"kind": "sklearn", "path": "credit.skops"})))


def test_the_same_bytes_load_once_and_new_bytes_load_again(tmp_path: Path) -> None:
    sio.dump(_train(["good", "bad"]), tmp_path / "credit.skops")
    project = _project(tmp_path, {"kind": "sklearn", "path": "credit.skops"})
    first, again = load_model(*_flow_of(project)), load_model(*_flow_of(project))
    assert again.estimator is first.estimator
    sio.dump(_train(["bad", "good"]), tmp_path / "credit.skops")
    changed = load_model(*_flow_of(project))
    assert changed.sha256 != first.sha256 and changed.estimator is not first.estimator
    assert_allclose(changed.score(FRAME).probabilities, first.score(FRAME).probabilities[:, ::-1])
