"""A flow's model as an ONNX file, scored in process by onnxruntime (``kind: onnx``).

The inputs: one tensor of every field in declaration order when the graph has a single input that is not a field's
name (scikit-learn converted by skl2onnx with one ``FloatTensorType([None, d])``), else one ``[n, 1]`` tensor per
field, named after it. The output: the tensor of probabilities (skl2onnx's ``probabilities`` with
``zipmap=False``), or the sequence of maps label -> probability that skl2onnx's ZipMap gives by default. The class
order is read from the graph's classifier (``classlabels_strings`` or ``classlabels_int64s``) and must hold the
flow's labels; a graph that names none is taken to give them in the flow's order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.config import Flow
from signoff.errors import ModelError

ELEMENT = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}


def classes_of(graph: Any) -> list[str] | None:
    """The class labels a converted classifier names, in its output's column order, or None."""
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [s.decode() for s in attribute.strings]
            if attribute.name == "classlabels_int64s" and attribute.ints:
                return [str(i) for i in attribute.ints]
    return None


class OnnxModel:
    """The ``predict`` of an ONNX classifier: a table of cases in, probabilities in the flow's label order out."""

    def __init__(self, path: Path, flow: Flow, where: str) -> None:
        import onnx
        import onnxruntime

        try:
            graph = onnx.load(str(path)).graph
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001  # a broken file raises anything; the user needs its name
            raise ModelError(f"{where}: cannot load {path}: {type(error).__name__}: {error}") from None
        self.fields = list(flow.fields)
        self.inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        chosen = next((o for o in outputs if o.name in ("probabilities", "output_probability")), outputs[-1])
        self.output = chosen.name
        classes = classes_of(graph)
        if classes is not None and sorted(classes) != sorted(flow.labels):
            raise ModelError(f"{where}: the model's classes {classes} are not the flow's labels {list(flow.labels)}")
        self.labels = list(flow.labels)
        self.order = [classes.index(label) for label in flow.labels] if classes is not None else None
        names = {i.name for i in self.inputs}
        self.one_tensor = len(self.inputs) == 1 and self.inputs[0].name not in self.fields
        if not self.one_tensor and not names <= set(self.fields):
            raise ModelError(f"{where}: the model's inputs {sorted(names)} are not fields of the flow")

    def feeds(self, frame: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
        if self.one_tensor:
            tensor = self.inputs[0]
            return {tensor.name: frame[self.fields].to_numpy(dtype=ELEMENT.get(tensor.type, np.float32))}
        feeds: dict[str, npt.NDArray[Any]] = {}
        for tensor in self.inputs:
            column = frame[tensor.name]
            kind = ELEMENT.get(tensor.type)
            values = column.astype(str).to_numpy(dtype=object) if kind is None else column.to_numpy(dtype=kind)
            feeds[tensor.name] = values.reshape(-1, 1)
        return feeds

    def __call__(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        (raw,) = self.session.run([self.output], self.feeds(frame))
        if isinstance(raw, list):  # ZipMap: one {label: probability} per case
            named = [{str(key): value for key, value in row.items()} for row in raw]
            return np.array([[row[label] for label in self.labels] for row in named], dtype=np.float64)
        probabilities = np.asarray(raw, dtype=np.float64)
        return probabilities[:, self.order] if self.order is not None and probabilities.ndim == 2 else probabilities
