"""An ONNX model exported from scikit-learn by skl2onnx, scored in process by onnxruntime as a flow's model and
registered as a model version, on SQLite and PostgreSQL; its probabilities match scikit-learn's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sqlalchemy import select

from helpers.builders import make_project
from signoff import intake
from signoff.errors import ModelError
from signoff.intake import validate_case
from signoff.models import load_model
from signoff.store.database import Database
from signoff.store.schema import model_versions

FIELDS = {
    "score": {"type": "number", "min": 0, "max": 1},
    "amount": {"type": "number", "min": 0},
    "group": {"type": "category", "values": ["a", "b"]},
}


def _training() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"score": rng.random(300), "amount": rng.random(300) * 1000, "group": rng.choice(["a", "b"], 300)}
    )
    labels = np.where(frame["score"] + rng.normal(0, 0.1, 300) > 0.5, "bad", "good")
    return frame, labels


def _per_field(path: Path) -> Any:
    """One input per field, a string one among them; skl2onnx's default ZipMap output (label -> probability)."""
    frame, labels = _training()
    pipeline = make_pipeline(
        ColumnTransformer([("n", "passthrough", ["score", "amount"]), ("c", OneHotEncoder(), ["group"])]),
        LogisticRegression(max_iter=1000),
    ).fit(frame, labels)
    types = [("score", FloatTensorType([None, 1])), ("amount", FloatTensorType([None, 1]))]
    path.write_bytes(
        to_onnx(pipeline, initial_types=[*types, ("group", StringTensorType([None, 1]))]).SerializeToString()
    )
    return pipeline


def _one_tensor(path: Path) -> Any:
    """One float tensor of every (numeric) field; probabilities as a tensor (zipmap off)."""
    frame, labels = _training()
    model = LogisticRegression().fit(frame[["score", "amount"]], labels)
    onx = to_onnx(model, frame[["score", "amount"]].to_numpy(np.float32)[:1], options={"zipmap": False})
    path.write_bytes(onx.SerializeToString())
    return model


def test_an_onnx_file_scores_cases_like_the_estimator_it_came_from_and_is_registered(
    db: Database, tmp_path: Path
) -> None:
    estimator = _per_field(tmp_path / "model.onnx")
    project = make_project(tmp_path, db.url, fields=FIELDS, model={"kind": "onnx", "path": "model.onnx"})
    runtime = intake.prepare(db, project)["test-flow"]
    rows = [{"score": s, "amount": 10.0 * i, "group": "ab"[i % 2]} for i, s in enumerate((0.05, 0.5, 0.95))]
    inputs = [validate_case(runtime.flow, None, row, "case")[0] for row in rows]
    results = intake.submit(db, runtime, [c for c in inputs if c is not None], "tester")
    assert [r.decision for r in results] == ["good", None, "bad"]  # the middle one is in the review band
    scores = runtime.model.score(pd.DataFrame(rows))
    expected = estimator.predict_proba(pd.DataFrame(rows))[
        :, [list(estimator.classes_).index(x) for x in ("good", "bad")]
    ]
    np.testing.assert_allclose(scores.probabilities, expected, atol=1e-5)  # float32 inside the graph
    with db.transaction(write=False) as conn:
        kind, version, sha = conn.execute(
            select(model_versions.c.kind, model_versions.c.version, model_versions.c.sha256)
        ).one()
    assert kind == "onnx" and version == f"sha256:{sha[:12]}"


def test_one_tensor_of_every_field_and_the_class_order_of_the_graph(tmp_path: Path) -> None:
    estimator = _one_tensor(tmp_path / "model.onnx")
    fields = {"score": FIELDS["score"], "amount": FIELDS["amount"]}
    flow = {"labels": ["bad", "good"], "fields": fields, "groups": [], "policy": []}  # not the estimator's order
    project = make_project(
        tmp_path, "sqlite://", flows={"f": {**flow, "model": {"kind": "onnx", "path": "model.onnx"}}}
    )
    model = load_model(project, project.flows["f"])
    rows = pd.DataFrame({"score": [0.1, 0.9], "amount": [5.0, 500.0]})
    expected = estimator.predict_proba(rows)[:, [list(estimator.classes_).index(x) for x in ("bad", "good")]]
    np.testing.assert_allclose(model.score(rows).probabilities, expected, atol=1e-5)


def test_a_graph_whose_classes_are_not_the_flows_labels_is_refused(tmp_path: Path) -> None:
    _one_tensor(tmp_path / "model.onnx")
    fields = {"score": FIELDS["score"], "amount": FIELDS["amount"]}
    flow = {"labels": ["yes", "no"], "fields": fields, "groups": [], "policy": []}
    project = make_project(
        tmp_path, "sqlite://", flows={"f": {**flow, "model": {"kind": "onnx", "path": "model.onnx"}}}
    )
    with pytest.raises(ModelError, match=r"the model's classes \['bad', 'good'\] are not the flow's labels"):
        load_model(project, project.flows["f"])
