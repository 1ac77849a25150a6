"""The request and response bodies of the prediction services a flow's model may be (``kind: http``).

Each protocol turns a table of cases into one JSON request body and the service's answer into class probabilities,
``(n, k)`` in the order of the labels given. Pure: no I/O, testable against the specifications' own examples.

- ``signoff``: Signoff's own shape. Request ``{"labels": [...], "instances": [{field: value, ...}, ...]}``; answer
  ``{"probabilities": [[p, ...], ...]}``, one row per instance, its columns in the order of the request's labels
  (or of ``"labels"`` in the answer, when the answer names them).
- ``kserve``: the Open Inference Protocol (KServe v2, also spoken by Triton, TorchServe and MLServer). Request
  ``{"id": ..., "inputs": [{"name", "shape", "datatype", "data"}, ...]}``: one tensor per field, shape ``[n]``, or
  one ``FP64`` tensor ``[n, d]`` of every field when ``input`` names it; ``data`` is flattened in row-major order.
  Answer ``{"outputs": [{"name", "shape", "datatype", "data"}, ...]}``: the tensor named ``output`` (else the one
  named ``probabilities`` or ``predict_proba``, else the only one) of shape ``[n, k]``.
- ``mlflow``: MLflow's scoring server (``POST /invocations``) in one of its documented request formats,
  ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` (columns); answer ``{"predictions": ...}``
  holding, per case, the probabilities as a list in label order or as a record keyed by label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.errors import ModelError

Protocol = Literal["signoff", "kserve", "mlflow"]
MlflowFormat = Literal["dataframe_split", "dataframe_records", "instances", "inputs"]
Json = object

# The Open Inference Protocol's tensor data types for each field type of a flow
DATATYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES", "category": "BYTES"}
PROBABILITY_OUTPUTS = ("probabilities", "predict_proba")


def _plain(value: object) -> object:
    """A cell as JSON: numpy scalars as Python numbers, a missing value (NaN, NA) as null."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _columns(frame: pd.DataFrame, types: Mapping[str, str]) -> dict[str, list[object]]:
    """Each column as JSON values; integer fields (float64 in the frame, for their NaN) as integers."""
    columns = {}
    for name in frame.columns:
        values = [_plain(v) for v in frame[name].tolist()]
        if types.get(str(name)) == "integer":
            values = [None if v is None else int(v) for v in values]  # type: ignore[call-overload]  # numbers here
        columns[str(name)] = values
    return columns


def _records(columns: Mapping[str, list[object]]) -> list[dict[str, object]]:
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)] if columns else []


def encode(
    protocol: Protocol,
    frame: pd.DataFrame,
    labels: Sequence[str],
    types: Mapping[str, str],
    *,
    mlflow_format: MlflowFormat = "dataframe_split",
    tensor: str | None = None,
    request_id: str = "",
) -> dict[str, Json]:
    """The request body for ``frame`` (one row per case); ``types`` gives each field's declared type."""
    if protocol == "kserve":
        return {"id": request_id, "inputs": kserve_inputs(frame, types, tensor)}
    columns = _columns(frame, types)
    if protocol == "signoff":
        return {"labels": list(labels), "instances": _records(columns)}
    return mlflow_body(columns, mlflow_format)


def kserve_inputs(frame: pd.DataFrame, types: Mapping[str, str], tensor: str | None) -> list[dict[str, Json]]:
    """One tensor per field (shape ``[n]``), or one ``FP64`` tensor ``[n, d]`` named ``tensor``, row-major."""
    n = len(frame)
    if tensor is not None:
        matrix = frame.astype(np.float64).to_numpy()
        flat = [_plain(v) for v in matrix.reshape(-1).tolist()]
        return [{"name": tensor, "shape": [n, frame.shape[1]], "datatype": "FP64", "data": flat}]
    return [
        {"name": name, "shape": [n], "datatype": DATATYPES[types[name]], "data": values}
        for name, values in _columns(frame, types).items()
    ]


def mlflow_body(columns: Mapping[str, list[object]], form: MlflowFormat) -> dict[str, Json]:
    """The body MLflow's ``/invocations`` reads in the format ``form``, of the table ``columns``."""
    if form == "dataframe_split":
        rows = [list(row) for row in zip(*columns.values(), strict=True)] if columns else []
        return {"dataframe_split": {"columns": list(columns), "data": rows}}
    if form == "dataframe_records":
        return {"dataframe_records": _records(columns)}
    if form == "instances":
        return {"instances": _records(columns)}
    return {"inputs": dict(columns)}


class BadAnswer(ModelError):
    """The service answered, but not with probabilities for the cases asked about."""


def decode(
    protocol: Protocol, body: object, n: int, labels: Sequence[str], *, output: str | None = None
) -> npt.NDArray[np.float64]:
    """The probabilities ``(n, k)`` in the order of ``labels`` that the answer ``body`` holds, or ``BadAnswer``."""
    if not isinstance(body, dict):
        raise BadAnswer(f"the answer is not a JSON object but {type(body).__name__}")
    if protocol == "signoff":
        rows = _field(body, "probabilities")
        named = body.get("labels")
        order = _label_order(named, labels) if named is not None else None
        return _matrix(rows, n, len(labels), order)
    if protocol == "kserve":
        return kserve_output(body, n, len(labels), output)
    predictions = _field(body, "predictions")
    if isinstance(predictions, list) and predictions and all(isinstance(p, dict) for p in predictions):
        missing = [label for label in labels if label not in predictions[0]]
        if missing:
            raise BadAnswer(f"the predictions are records without the labels {missing}")
        predictions = [[p[label] for label in labels] for p in predictions]
    return _matrix(predictions, n, len(labels), None)


def kserve_output(body: Mapping[str, object], n: int, k: int, name: str | None) -> npt.NDArray[np.float64]:
    """The probability tensor of an Open Inference Protocol answer, reshaped from its (row-major) data."""
    outputs = _field(body, "outputs")
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise BadAnswer("'outputs' is not a list of tensors")
    by_name = {str(o.get("name")): o for o in outputs}
    wanted = [name] if name is not None else [o for o in PROBABILITY_OUTPUTS if o in by_name]
    if not wanted and len(outputs) == 1:
        wanted = list(by_name)
    if not wanted or wanted[0] not in by_name:
        raise BadAnswer(f"no output tensor {name or ' or '.join(PROBABILITY_OUTPUTS)} among {sorted(by_name)}")
    tensor = by_name[wanted[0]]
    shape = tensor.get("shape")
    if not isinstance(shape, list) or [int(s) for s in shape] not in ([n, k], [n * k]):
        raise BadAnswer(f"output {wanted[0]!r} has shape {shape}, expected [{n}, {k}]")
    return _matrix(_field(tensor, "data"), n, k, None)


def _field(body: Mapping[str, object], name: str) -> object:
    if name not in body:
        raise BadAnswer(f"the answer has no {name!r} (it has {sorted(map(str, body))})")
    return body[name]


def _label_order(named: object, labels: Sequence[str]) -> list[int]:
    if not isinstance(named, list) or sorted(map(str, named)) != sorted(labels):
        raise BadAnswer(f"the answer's labels {named} are not the flow's {list(labels)}")
    names = [str(x) for x in named]
    return [names.index(label) for label in labels]


def _matrix(data: object, n: int, k: int, order: list[int] | None) -> npt.NDArray[np.float64]:
    try:
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise BadAnswer(f"the probabilities are not numbers: {error}") from None
    if values.size != n * k or values.ndim not in (1, 2) or (values.ndim == 2 and values.shape != (n, k)):
        raise BadAnswer(f"the probabilities have shape {values.shape}, expected ({n}, {k})")
    matrix = values.reshape(n, k)  # row-major, as the Open Inference Protocol flattens tensors
    return matrix[:, order] if order is not None else matrix
