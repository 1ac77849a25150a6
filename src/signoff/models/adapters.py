"""Load a flow's model and score cases with it.

scikit-learn artifacts are loaded with skops, which refuses types it was not told to trust instead of
running arbitrary pickled code; joblib pickles are accepted with a warning because they can run code on load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.config import Flow, Project
from signoff.errors import MODEL_UNAVAILABLE, ModelError, ModelUnavailable
from signoff.models.outputs import distribution_problems

log = logging.getLogger(__name__)

Predict = Callable[[pd.DataFrame], Any]

KEPT = 8  # skops estimators kept loaded per process, by content: a champion, its challengers, the flow file's
_kept: OrderedDict[tuple[str, tuple[str, ...] | None], Any] = OrderedDict()
_kept_lock = threading.Lock()


@dataclass(frozen=True)
class Scores:
    """Class probabilities in the flow's label order; ``problems[i]`` says why row i is unusable."""

    probabilities: npt.NDArray[np.float64]
    problems: list[str | None]

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        return np.array([p is None for p in self.problems], dtype=bool)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to score one flow's cases, with the identity every prediction records."""

    flow: str
    labels: tuple[str, ...]
    kind: str
    uri: str
    version: str
    sha256: str | None
    predict: Predict = field(repr=False)
    column_order: tuple[int, ...] | None = None
    estimator: Any = field(default=None, repr=False)
    member_models: tuple[LoadedModel, ...] = ()

    def members(self, frame: pd.DataFrame) -> npt.NDArray[np.float64] | None:
        """The members' probabilities (m, n, k): the flow's member models if it names some, else the inner
        estimators of an ensemble (bagging, random forest), else None."""
        if self.member_models:
            return np.stack([member.score(frame).probabilities for member in self.member_models])
        ensemble = self.estimator.steps[-1][1] if hasattr(self.estimator, "steps") else self.estimator
        inner = getattr(ensemble, "estimators_", None)
        if not isinstance(inner, list) or not inner or not hasattr(inner[0], "predict_proba"):
            return None
        features = frame
        if hasattr(self.estimator, "steps"):
            features = self.estimator[:-1].transform(frame)
        stacked = np.stack([np.asarray(m.predict_proba(features), dtype=np.float64) for m in inner])
        return stacked[:, :, list(self.column_order)] if self.column_order is not None else stacked

    def score(self, frame: pd.DataFrame) -> Scores:
        """Score every row. A model that fails or returns garbage marks rows invalid; it never raises."""
        n, k = len(frame), len(self.labels)
        try:
            raw = np.asarray(self.predict(frame), dtype=np.float64)
        except ModelUnavailable as error:  # a remote model that will answer again: review or hold, as the flow says
            log.warning("model %s of flow %s: %s", self.version, self.flow, error)
            return _all_invalid(n, k, f"{MODEL_UNAVAILABLE}: {error}")
        except Exception as error:  # any model failure must route to people, not crash intake
            log.exception("model %s of flow %s failed", self.version, self.flow)
            return _all_invalid(n, k, f"the model failed: {type(error).__name__}: {error}")
        if raw.shape != (n, k):
            return _all_invalid(n, k, f"the model returned shape {raw.shape}, expected ({n}, {k})")
        if self.column_order is not None:
            raw = raw[:, list(self.column_order)]
        return Scores(raw, distribution_problems(raw))


def _all_invalid(n: int, k: int, problem: str) -> Scores:
    return Scores(np.full((n, k), np.nan), [problem] * n)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_estimator(path: Path, sha256: str, trusted: tuple[str, ...] | None, where: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".skops":
        return _skops(path, sha256, trusted, where)
    if suffix in (".joblib", ".pkl", ".pickle"):
        import joblib

        log.warning("%s: loading the pickle %s runs any code it contains; prefer a .skops file", where, path)
        return joblib.load(path)
    raise ModelError(f"{where}: {path.name} is neither a .skops nor a .joblib file")


def _skops(path: Path, sha256: str, trusted: tuple[str, ...] | None, where: str) -> Any:
    """The estimator a skops file holds, kept by its bytes' SHA-256 and the trust it was loaded under: walking a
    skops file's types and building its estimator take most of a second, and a promotion, a re-scoring and a
    reload each load the same champion again. Estimators are only read (scored with) once loaded."""
    key = (sha256, trusted)
    with _kept_lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    import skops.io as sio

    found = sio.get_untrusted_types(file=path)
    untrusted = [t for t in found if trusted is not None and t not in trusted]
    if untrusted:
        raise ModelError(
            f"{where}: {path} contains types skops does not trust: {', '.join(untrusted)}; "
            "if you trust this file, list them under 'trusted_types'"
        )
    estimator = sio.load(path, trusted=list(found if trusted is None else trusted) or None)
    with _kept_lock:
        _kept[key] = estimator
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return estimator


def entry_point(spec: str, where: str) -> Predict:
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(f"{where}: cannot import module {module_name!r}: {error}") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ModelError(f"{where}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ModelError(f"{where}: {spec} is not callable")
    return target  # type: ignore[no-any-return]  # checked callable; its signature is the user's promise


def load_model(project: Project, flow: Flow) -> LoadedModel:
    """Load the model a flow declares; every error names the flow file field to fix."""
    spec = flow.model
    where = f"{project.path}: flows.{flow.name}.model"
    if spec is None:
        raise ModelError(f"{where}: the flow names no model")
    if spec.kind == "python":
        assert spec.entry_point is not None and spec.version is not None
        return LoadedModel(
            flow=flow.name,
            labels=flow.labels,
            kind="python",
            uri=spec.entry_point,
            version=spec.version,
            sha256=None,
            predict=entry_point(spec.entry_point, where),
        )
    if spec.kind == "http":
        return _remote(project, flow, where)
    if spec.kind == "onnx":
        return _onnx(project, flow, where)
    members = tuple(
        load_sklearn(project.resolve(member), flow, spec.trusted_types, f"{where}.members[{i}]")
        for i, member in enumerate(spec.members)
    )
    assert spec.path is not None
    main = load_sklearn(project.resolve(spec.path), flow, spec.trusted_types, f"{where}.path", spec.version)
    if members and spec.version is None:  # the version names the whole ensemble, so a changed member shows
        combined = hashlib.sha256("".join(m.sha256 or "" for m in (main, *members)).encode()).hexdigest()
        main = dataclasses.replace(main, version=f"sha256:{combined[:12]}")
    return dataclasses.replace(main, member_models=members)


def _remote(project: Project, flow: Flow, where: str) -> LoadedModel:
    """A prediction service as the flow's model; its URL is checked against the SSRF guard at once, so that a
    refused address is a load error naming the field, not a stream of failed cases."""
    from signoff import net
    from signoff.models.remote import RemoteModel

    spec = flow.model
    assert spec is not None and spec.url is not None and spec.version is not None
    try:
        net.checked(spec.url, project.network.allow)
    except net.AddressRefused as refused:
        raise ModelError(f"{where}.url: {refused}") from None
    except httpx.ConnectError as error:
        log.warning("%s.url: %s (the circuit breaker takes over until it resolves)", where, error)
    remote = RemoteModel(flow, spec, project.network.allow, where)
    uri = f"{spec.protocol}+{spec.url}"
    return LoadedModel(flow.name, flow.labels, "http", uri, spec.version, None, predict=remote, estimator=remote)


def _onnx(project: Project, flow: Flow, where: str) -> LoadedModel:
    """An ONNX file as the flow's model, scored in process by onnxruntime."""
    from signoff.models.onnx import OnnxModel

    spec = flow.model
    assert spec is not None and spec.path is not None
    path = project.resolve(spec.path)
    if not path.is_file():
        raise ModelError(f"{where}.path: model file {path} not found")
    sha = file_sha256(path)
    scorer = OnnxModel(path, flow, f"{where}.path")
    version = spec.version or f"sha256:{sha[:12]}"
    return LoadedModel(flow.name, flow.labels, "onnx", str(path), version, sha, predict=scorer, estimator=scorer)


def load_sklearn(
    path: Path, flow: Flow, trusted: tuple[str, ...] | None, where: str, version: str | None = None
) -> LoadedModel:
    """A fitted classifier file as the flow's model: its classes must be the flow's labels. ``trusted``: the types
    a skops file may hold beyond skops' own; None trusts every type it holds, for the registry's own artifacts only
    (their bytes checked against the SHA-256 recorded when Signoff wrote them)."""
    if not path.is_file():
        raise ModelError(f"{where}: model file {path} not found")
    sha = file_sha256(path)
    try:
        estimator = _load_estimator(path, sha, trusted, where)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001  # loaders raise anything; the user needs the file and the cause
        raise ModelError(f"{where}: cannot load {path}: {type(error).__name__}: {error}") from None
    if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "classes_"):
        raise ModelError(f"{where}: {path} is not a fitted classifier with predict_proba")
    classes = [str(c) for c in estimator.classes_]
    if sorted(classes) != sorted(flow.labels):
        raise ModelError(f"{where}: the model's classes {classes} are not the flow's labels {list(flow.labels)}")
    order = tuple(classes.index(label) for label in flow.labels)
    return LoadedModel(
        flow=flow.name,
        labels=flow.labels,
        kind="sklearn",
        uri=str(path),
        version=version or f"sha256:{sha[:12]}",
        sha256=sha,
        estimator=estimator,
        predict=estimator.predict_proba,
        column_order=None if order == tuple(range(len(order))) else order,
    )
