"""The remote models' request and response bodies, against the specifications' own examples: the Open Inference
Protocol's (KServe v2, ``docs/predict-api/v2/required_api.md``: "Inference Request Examples") and MLflow's parser of
its scoring server's formats (``mlflow.utils.proto_json_utils``, the functions ``/invocations`` reads bodies with)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.utils import proto_json_utils

from helpers.builders import make_flow
from signoff.models import protocols
from signoff.models.frames import frame_of
from signoff.models.protocols import BadAnswer

LABELS = ("good", "bad")
TYPES = {"score": "number", "amount": "number", "group": "category"}


def _frame() -> pd.DataFrame:
    rows = [{"score": 0.25, "amount": 100, "group": "a"}, {"score": 0.75, "group": "b"}]  # amount missing: null
    return frame_of(make_flow(), rows)


def test_the_specifications_response_example_is_read_in_row_major_order() -> None:
    # the Open Inference Protocol's example answer: output0, shape [3, 2], data flattened row by row
    body = {
        "id": "42",
        "outputs": [{"name": "output0", "shape": [3, 2], "datatype": "FP32", "data": [1.0, 1.1, 2.0, 2.1, 3.0, 3.1]}],
    }
    read = protocols.decode("kserve", body, 3, ("x", "y"), output="output0")
    assert read.tolist() == [[1.0, 1.1], [2.0, 2.1], [3.0, 3.1]]
    assert protocols.decode("kserve", body, 3, ("x", "y")).shape == (3, 2)  # the only output
    nested = {"outputs": [{"name": "probabilities", "shape": [3, 2], "datatype": "FP64", "data": read.tolist()}]}
    assert protocols.decode("kserve", nested, 3, ("x", "y")).tolist() == read.tolist()


def test_one_tensor_is_flattened_like_the_specifications_request_example() -> None:
    # the example's input0: shape [2, 2], data [1, 2, 3, 4] (row-major)
    frame = pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, 4.0]})
    (tensor,) = protocols.kserve_inputs(frame, {"a": "number", "b": "number"}, "input0")
    assert tensor == {"name": "input0", "shape": [2, 2], "datatype": "FP64", "data": [1.0, 2.0, 3.0, 4.0]}


def test_one_tensor_per_field_names_each_by_its_field_with_its_datatype() -> None:
    body = protocols.encode("kserve", _frame(), LABELS, TYPES, request_id="42")
    assert body["id"] == "42"
    assert body["inputs"] == [
        {"name": "score", "shape": [2], "datatype": "FP64", "data": [0.25, 0.75]},
        {"name": "amount", "shape": [2], "datatype": "FP64", "data": [100.0, None]},
        {"name": "group", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
    ]
    json.dumps(body, allow_nan=False)  # no NaN sneaks into the JSON


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records"])
def test_mlflows_own_parser_reads_back_the_table(form: str) -> None:
    body = json.loads(json.dumps(protocols.encode("mlflow", _frame(), LABELS, TYPES, mlflow_format=form)))
    orient = "split" if form == "dataframe_split" else "records"
    parsed = proto_json_utils.dataframe_from_parsed_json(body[form], pandas_orient=orient)
    assert list(parsed.columns) == ["score", "amount", "group"]
    assert parsed["score"].tolist() == [0.25, 0.75] and parsed["group"].tolist() == ["a", "b"]
    assert parsed["amount"].iloc[0] == 100 and pd.isna(parsed["amount"].iloc[1])


@pytest.mark.parametrize("form", ["instances", "inputs"])
def test_mlflows_tensorflow_serving_formats_parse(form: str) -> None:
    body = json.loads(json.dumps(protocols.encode("mlflow", _frame(), LABELS, TYPES, mlflow_format=form)))
    parsed = proto_json_utils.parse_tf_serving_input(body)
    assert list(np.asarray(parsed["score"])) == [0.25, 0.75]
    assert list(np.asarray(parsed["group"])) == ["a", "b"]


def test_mlflow_predictions_as_lists_or_as_records_keyed_by_label() -> None:
    assert protocols.decode("mlflow", {"predictions": [[0.9, 0.1]]}, 1, LABELS).tolist() == [[0.9, 0.1]]
    records = {"predictions": [{"bad": 0.1, "good": 0.9}]}
    assert protocols.decode("mlflow", records, 1, LABELS).tolist() == [[0.9, 0.1]]
    with pytest.raises(BadAnswer, match=r"without the labels \['bad'\]"):
        protocols.decode("mlflow", {"predictions": [{"good": 1.0}]}, 1, LABELS)


def test_signoffs_own_shape_in_the_answers_label_order() -> None:
    body = protocols.encode("signoff", _frame(), LABELS, TYPES)
    assert body == {
        "labels": ["good", "bad"],
        "instances": [{"score": 0.25, "amount": 100.0, "group": "a"}, {"score": 0.75, "amount": None, "group": "b"}],
    }
    answer = {"labels": ["bad", "good"], "probabilities": [[0.2, 0.8], [0.6, 0.4]]}
    assert protocols.decode("signoff", answer, 2, LABELS).tolist() == [[0.8, 0.2], [0.4, 0.6]]


def test_integer_fields_go_as_integers() -> None:
    frame = pd.DataFrame({"n": [3.0, np.nan]})
    body = protocols.encode("kserve", frame, LABELS, {"n": "integer"})
    assert body["inputs"] == [{"name": "n", "shape": [2], "datatype": "INT64", "data": [3, None]}]


@pytest.mark.parametrize(
    ("protocol", "body", "message"),
    [
        ("signoff", [1, 2], "not a JSON object"),
        ("signoff", {"scores": []}, "has no 'probabilities'"),
        ("signoff", {"probabilities": [[0.5, 0.5]]}, r"shape \(1, 2\), expected \(2, 2\)"),
        ("signoff", {"labels": ["good", "ugly"], "probabilities": [[1, 0], [1, 0]]}, "not the flow's"),
        ("kserve", {"outputs": [{"name": "a"}, {"name": "b"}]}, "no output tensor"),
        ("kserve", {"outputs": [{"name": "probabilities", "shape": [2], "data": [1, 0]}]}, "has shape"),
        ("mlflow", {"predictions": [["x", "y"], ["x", "y"]]}, "not numbers"),
    ],
)
def test_an_answer_that_is_not_probabilities_is_refused_with_what_is_wrong(
    protocol: protocols.Protocol, body: object, message: str
) -> None:
    with pytest.raises(BadAnswer, match=message):
        protocols.decode(protocol, body, 2, LABELS)
