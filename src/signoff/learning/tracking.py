"""MLflow beside the registry: each retrain run logged (params, held-out metrics, the model artifact), its version
registered in MLflow's model registry, and the registered model's aliases ``champion`` and ``challenger`` kept on
the versions Signoff gives those roles. Signoff's registry stays the source of truth; MLflow is a mirror that a
retrain tries to update and may find unreachable.

MLflow is an optional dependency (``pip install 'signoff[mlflow]'``, which installs ``mlflow-skinny``: enough for
a tracking server, or a local ``sqlite:///`` or file store). Re-logging the same retrain run (a run taken over
after its worker died) finds the MLflow run and model version it already made, by their ``signoff.*`` tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from signoff.config.flows import MlflowSpec
from signoff.errors import SignoffError
from signoff.learning.records import TrainingSet

RUN_TAG = "signoff.retrain_run"
VERSION_TAG = "signoff.version_id"
ALIASES = ("champion", "challenger")


@dataclass(frozen=True)
class Logged:
    """The Signoff model version a retrain registered, as MLflow is told of it."""

    id: int
    version: str
    artifact: Path


class Held(Protocol):
    """What the aliases read of a Signoff model version: its id and status."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...


def alias_targets(versions: Iterable[Held]) -> dict[str, int | None]:
    """The Signoff version each MLflow alias names: ``champion`` the champion, ``challenger`` the newest candidate."""
    held = list(versions)
    champion = next((v.id for v in held if v.status == "champion"), None)
    candidates = [v.id for v in held if v.status == "candidate"]
    return {"champion": champion, "challenger": max(candidates, default=None)}


def registered_model(spec: MlflowSpec, flow: str) -> str:
    return spec.registered_model or f"signoff-{flow}"


def client(spec: MlflowSpec) -> Any:
    """An MLflow client for the flow's tracking URI (also its registry)."""
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise SignoffError("the flow names an MLflow tracking_uri but MLflow is not installed: "
                           "pip install 'signoff[mlflow]'") from None  # fmt: skip
    return MlflowClient(tracking_uri=spec.tracking_uri, registry_uri=spec.tracking_uri)


def log_retrain(
    spec: MlflowSpec,
    flow: str,
    *,
    run_id: int,
    training_set: TrainingSet,
    metrics: dict[str, float],
    version: Logged,
    trainer: str,
) -> str:
    """Log one retrain run and register its model version in MLflow; the MLflow run id."""
    mlflow = client(spec)
    experiment = _experiment(mlflow, f"signoff-{flow}", spec.tracking_uri)
    found = mlflow.search_runs([experiment], filter_string=f"tags.`{RUN_TAG}` = '{run_id}'", max_results=1)
    if found:
        run = found[0].info.run_id
    else:
        tags = {RUN_TAG: str(run_id), "signoff.flow": flow}
        run = mlflow.create_run(experiment, run_name=f"{flow}-retrain-{run_id}", tags=tags).info.run_id
    params = {
        "flow": flow,
        "trainer": trainer,
        "training_set_id": training_set.id,
        "training_set_sha256": training_set.sha256,
        "window_start": training_set.window_start.isoformat(),
        "window_end": training_set.window_end.isoformat(),
        "validation_start": training_set.validation_start.isoformat(),
        "train_size": len(training_set.train),
        "validation_size": len(training_set.validation),
        "policy_version": training_set.policy_version or "",
        "signoff_version": version.version,
    }
    for key, value in params.items():
        mlflow.log_param(run, key, value)
    for key, value in metrics.items():
        mlflow.log_metric(run, f"holdout_{key}", float(value))
    mlflow.log_artifact(run, str(version.artifact), "model")
    mlflow.set_terminated(run)
    name = registered_model(spec, flow)
    if _version_of(mlflow, name, version.id) is None:
        if not mlflow.search_registered_models(filter_string=f"name = '{name}'"):
            mlflow.create_registered_model(name, tags={"signoff.flow": flow})
        mlflow.create_model_version(
            name,
            f"runs:/{run}/model",
            run_id=run,
            tags={VERSION_TAG: str(version.id), "signoff.version": version.version},
        )
    return str(run)


def sync_aliases(spec: MlflowSpec, flow: str, targets: dict[str, int | None]) -> None:
    """Point each alias at the MLflow version of the Signoff version it names; an alias whose version is not in
    MLflow (None, or a model from before MLflow was configured) is removed rather than left on an old version."""
    mlflow = client(spec)
    name = registered_model(spec, flow)
    if not mlflow.search_registered_models(filter_string=f"name = '{name}'"):
        return
    held = mlflow.get_registered_model(name).aliases  # alias -> version
    for alias in ALIASES:
        target = targets.get(alias)
        number = None if target is None else _version_of(mlflow, name, target)
        if number is not None:
            mlflow.set_registered_model_alias(name, alias, number)
        elif alias in held:
            mlflow.delete_registered_model_alias(name, alias)


def _experiment(mlflow: Any, name: str, tracking_uri: str) -> str:
    """The experiment's id, created on first use. On a local SQLite store its artifacts go in ``mlartifacts``
    beside the database file (MLflow's default is a folder under whatever directory the command runs in)."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if tracking_uri.startswith("sqlite:///"):
        location = (Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
    return str(mlflow.create_experiment(name, artifact_location=location))


def _version_of(mlflow: Any, name: str, signoff_id: int) -> str | None:
    """The MLflow version number registered for a Signoff version, if any."""
    for found in mlflow.search_model_versions(filter_string=f"name = '{name}'"):
        if found.tags.get(VERSION_TAG) == str(signoff_id):
            return str(found.version)
    return None
