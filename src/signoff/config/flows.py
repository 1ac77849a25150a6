"""The project file: database, flows, their input schema, model, policy, queues and costs.

Pydantic validates the file because it is a boundary: every error comes back with its location
(``flows.credit-approval.policy[0].low``) and what was expected, and the whole file is refused at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from signoff.config.policy import (
    AuditSpec,
    BandRule,
    BySegment,
    CalibrationSpec,
    CertifiedRule,
    OutOfDistributionRule,
    Rule,
    UncertaintyRule,
)
from signoff.domain import content_hash
from signoff.errors import ConfigError, Problem, problems_of

NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One input field of a case."""

    type: Literal["number", "integer", "string", "boolean", "category"]
    required: bool = True
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None
    max_length: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _values_only_for_categories(self) -> FieldSpec:
        if self.type == "category" and not self.values:
            raise ValueError("a category field needs its allowed 'values'")
        if self.type != "category" and self.values is not None:
            raise ValueError("'values' is only allowed on category fields")
        if (self.min is not None or self.max is not None) and self.type not in ("number", "integer"):
            raise ValueError("'min' and 'max' are only allowed on number and integer fields")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


class CircuitSpec(_Strict):
    """When a remote model is taken for down: after ``failures`` failed calls in a row (each after its retries) the
    circuit opens and no request is sent for ``reset_after`` seconds; then one trial call (half-open) closes it again
    on success or opens it for another period on failure."""

    failures: int = Field(default=5, ge=1, le=1000, description="failed calls in a row that open the circuit")
    reset_after: float = Field(default=30.0, gt=0, le=3600, description="seconds the circuit stays open")


REMOTE_ONLY = (
    "url",
    "protocol",
    "format",
    "input",
    "output",
    "timeout",
    "retries",
    "backoff",
    "batch_size",
    "circuit",
    "when_down",
    "token_env",
)


class ModelSpec(_Strict):
    """Where the model comes from: a scikit-learn artifact, an ONNX file, a Python entry point ``module:function``,
    or an HTTP prediction service (``kind: http``: Signoff's own JSON, the KServe v2 / Open Inference Protocol, or
    MLflow's ``/invocations``; see docs/how-to/use-a-remote-model.md)."""

    kind: Literal["sklearn", "python", "onnx", "http"]
    path: str | None = None
    entry_point: str | None = None
    version: str | None = None
    trusted_types: tuple[str, ...] = ()
    members: tuple[str, ...] = Field(
        default=(), description="sklearn files of an ensemble beside the model (e.g. its cross-validation folds)"
    )
    url: str | None = Field(default=None, pattern=r"^https?://", description="the prediction endpoint (kind: http)")
    protocol: Literal["signoff", "kserve", "mlflow"] = "signoff"
    format: Literal["dataframe_split", "dataframe_records", "instances", "inputs"] = Field(
        default="dataframe_split", description="the request body MLflow's scoring server is sent (protocol: mlflow)"
    )
    input: str | None = Field(
        default=None, description="kserve: one FP64 tensor of this name holding every field (default: one per field)"
    )
    output: str | None = Field(default=None, description="kserve: the output tensor of probabilities")
    timeout: float = Field(default=5.0, gt=0, le=300, description="seconds a request may take")
    retries: int = Field(default=2, ge=0, le=10, description="further tries of a request that failed to get through")
    backoff: float = Field(default=0.2, ge=0, le=60, description="seconds before the first retry, doubled each time")
    batch_size: int = Field(default=256, ge=1, le=100_000, description="cases per request at most")
    circuit: CircuitSpec = CircuitSpec()
    when_down: Literal["review", "hold"] = Field(
        default="review", description="a case the model cannot score: sent to review, or held until it answers"
    )
    token_env: str | None = Field(default=None, description="environment variable holding a bearer token")

    @property
    def holds(self) -> bool:
        """Whether a case this model cannot score is held until it answers (a remote model's ``when_down: hold``)."""
        return self.kind == "http" and self.when_down == "hold"

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if self.kind in ("sklearn", "onnx") and not self.path:
            hint = "a .skops or .joblib file" if self.kind == "sklearn" else "an .onnx file"
            raise ValueError(f"a {self.kind} model needs 'path' ({hint})")
        if self.kind == "python":
            if not self.entry_point or not re.fullmatch(r"[\w.]+:[\w.]+", self.entry_point):
                raise ValueError("a python model needs 'entry_point' in the form 'package.module:function'")
            if not self.version:
                raise ValueError("a python model needs 'version' (code has no file to fingerprint)")
        if self.kind == "http":
            self._check_remote()
        elif unexpected := sorted(set(REMOTE_ONLY) & self.model_fields_set):
            raise ValueError(f"{', '.join(unexpected)}: only for a model of kind 'http'")
        return self

    def _check_remote(self) -> None:
        if not self.url:
            raise ValueError("an http model needs 'url', its prediction endpoint")
        if not self.version:
            raise ValueError("an http model needs 'version' (a service has no file to fingerprint)")
        path = urlsplit(self.url).path.rstrip("/")
        if self.protocol == "kserve" and not re.fullmatch(r".*/v2/models/[^/]+(/versions/[^/]+)?/infer", path):
            raise ValueError("a kserve url ends in /v2/models/<name>[/versions/<version>]/infer")
        if self.protocol == "mlflow" and not path.endswith("/invocations"):
            raise ValueError("an mlflow url ends in /invocations")
        if "format" in self.model_fields_set and self.protocol != "mlflow":
            raise ValueError("'format' is only for protocol mlflow")
        if {"input", "output"} & self.model_fields_set and self.protocol != "kserve":
            raise ValueError("'input' and 'output' are only for protocol kserve")


class RetrainSchedule(_Strict):
    """When ``signoff worker`` retrains the flow: every night or week (at ``at``, UTC), after a number of new
    labels, or both (whichever comes first). Neither set: only ``signoff retrain`` retrains."""

    every: Literal["nightly", "weekly"] | None = None
    at: str = Field(default="02:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, UTC")
    after_labels: int | None = Field(default=None, ge=1, description="new usable labels since the last training set")


class MlflowSpec(_Strict):
    """Also log each retrain run and model version to an MLflow tracking server, and keep the registered model's
    aliases ``champion`` and ``challenger`` in step with the registry."""

    tracking_uri: str = Field(min_length=1)
    registered_model: str | None = Field(default=None, description="default: signoff-<flow>")


class ExploreSpec(_Strict):
    """Active learning on spare capacity: a claim that finds no task may be offered one of the flow's recent
    automatically decided cases, drawn by ``strategy`` (``margin``: the least sure first, see
    ``signoff.learning.active``) with its selection probability recorded. The review is kept beside the model's
    decision, which stands, like an audit."""

    when_idle: bool = Field(default=True, description="offer a case when a claim finds no task (false: never)")
    queue: Name | None = Field(default=None, description="the queue whose reviewers are offered them (default: first)")
    pool: int = Field(
        default=1000, ge=1, le=100_000, description="the most recent automatically decided cases drawn from"
    )
    strategy: Literal["margin", "random"] = "margin"
    epsilon: float = Field(default=0.1, gt=0, le=1, description="share of the draw that is uniform over the pool")
    temperature: float = Field(default=0.1, gt=0, le=10, description="how sharply small margins are preferred")


class GateSpec(_Strict):
    """When a challenger may replace the champion, judged on human-verified cases neither model trained on
    (``signoff.learning.gate``): better on ``metric`` by at least ``min_gain`` with significance at ``alpha``
    (for AUC, the lower bound of the paired bootstrap's 1 - alpha interval above ``min_gain``; for accuracy,
    McNemar's p below ``alpha``), no group of the flow's ``groups`` with ``min_group_cases`` cases worse by more
    than ``max_group_drop``, the policy's certified rules still able to certify, and at least ``min_evidence``
    labelled cases."""

    metric: Literal["auc", "accuracy"] = "auc"
    min_gain: float = Field(default=0.0, ge=0, lt=1, description="the least improvement worth a promotion")
    alpha: float = Field(default=0.05, gt=0, le=0.2, description="the chance of promoting a model that is no better")
    max_group_drop: float = Field(default=0.02, ge=0, lt=1, description="the most any group's metric may fall")
    min_group_cases: int = Field(default=30, ge=1, description="a smaller group is too noisy to judge")
    min_evidence: int = Field(default=200, ge=1, description="labelled cases needed before any promotion")
    resamples: int = Field(default=2000, ge=200, le=100_000, description="paired bootstrap resamples")
    auto_promote: bool = Field(default=False, description="a retrain promotes its candidate when the gate passes")


STICKY_TYPES = ("string", "category", "integer")
"""The field types a canary can keep cases together by (values that name something, not measurements)."""
NUMERIC = ("number", "integer", "boolean")


class CanarySpec(_Strict):
    """How a canary runs (``signoff models canary`` may override ``share`` and ``sticky_by``): the share of cases it
    routes, picked by a stable hash of the flow, the version and the case's external id, or the value of
    ``sticky_by`` (a field, such as the flow's entity: all of an entity's cases go the same way); and how many of
    its cases must carry a human label before it may be rolled back for being worse (``signoff.learning.canary``)."""

    share: float = Field(default=0.1, gt=0, lt=1, description="the share of cases the canary routes")
    sticky_by: str | None = Field(default=None, description="a field whose value keeps cases together")
    min_evidence: int = Field(default=30, ge=1, description="labelled canary cases before it can be judged worse")


class LearningSpec(_Strict):
    """How the flow learns from its labels. ``holdout`` is the share of human-verified cases (picked by a stable
    hash of the case id) that no training set ever contains; ``validation`` the share of the latest labels, by
    case time, that a training set validates on instead of training."""

    trainer: str | None = Field(
        default=None, description="'package.module:function' taking a training set and returning a model"
    )
    holdout: float = Field(default=0.1, gt=0, lt=0.5)
    validation: float = Field(default=0.2, gt=0, lt=0.5)
    min_labels: int = Field(default=50, ge=2, description="usable labels needed before a first training set")
    schedule: RetrainSchedule = RetrainSchedule()
    mlflow: MlflowSpec | None = None
    explore: ExploreSpec | None = None
    gate: GateSpec = GateSpec()
    canary: CanarySpec = CanarySpec()

    @field_validator("trainer")
    @classmethod
    def _entry_point(cls, trainer: str | None) -> str | None:
        if trainer is not None and not re.fullmatch(r"[\w.]+:[\w.]+", trainer):
            raise ValueError("a trainer is an entry point in the form 'package.module:function'")
        return trainer


class WhenExhausted(_Strict):
    """The default-safe action when a task is due and its escalation chain has no next queue."""

    action: Literal["hold", "label", "model"] = "hold"
    label: str | None = None

    @model_validator(mode="after")
    def _label(self) -> WhenExhausted:
        if (self.action == "label") != (self.label is not None):
            raise ValueError("give 'label' exactly when the action is 'label'")
        return self


class Consensus(_Strict):
    """How many independent reviews a task of this queue needs, and how they settle the case; a disagreement
    goes to ``adjudicate_in`` (a queue for a senior role)."""

    reviews: int = Field(default=1, ge=1, le=9)
    agreement: Literal["unanimous", "majority"] = "unanimous"
    adjudicate_in: Name | None = None

    @model_validator(mode="after")
    def _adjudication(self) -> Consensus:
        if self.reviews > 1 and self.adjudicate_in is None:
            raise ValueError("a queue needing several reviews must name 'adjudicate_in' for disagreements")
        return self


class GoldSpec(_Strict):
    """Gold tasks (cases with known answers) mixed into a queue at ``rate``; a reviewer with at least
    ``min_answers`` gold answers there whose accuracy is confidently below ``min_accuracy`` (the upper end of
    its 95% Wilson interval is under it) is paused for the queue until a lead lifts the pause."""

    rate: float = Field(gt=0, le=1)
    min_accuracy: float = Field(default=0.8, gt=0, le=1)
    min_answers: int = Field(default=10, ge=1)


class QueueSpec(_Strict):
    """A review queue: who may work it and how long a claim lasts."""

    role: Literal["reviewer", "lead", "admin"] = "reviewer"
    skills: tuple[Name, ...] = ()
    lease_ttl: float = Field(default=300.0, ge=1, le=86_400, description="seconds")
    sla: float | None = Field(default=None, gt=0, le=30 * 86_400, description="seconds until a task is due")
    escalate_to: Name | None = None
    escalate_before: float = Field(default=0.0, ge=0, description="seconds before the due time to escalate")
    when_exhausted: WhenExhausted = WhenExhausted()
    consensus: Consensus = Consensus()
    gold: GoldSpec | None = None


class Workload(_Strict):
    """Limits that keep reviewers fresh and the load fair (per reviewer, across all flows)."""

    # 3: the web workspace holds the task on screen, the one whose answer waits out its undo period, and the next.
    max_leases: int = Field(default=3, ge=1, le=100, description="tasks held at once (no hoarding)")
    max_per_hour: int | None = Field(default=None, ge=1, description="reviews in any 60 minutes")
    max_continuous: float | None = Field(default=None, gt=0, description="seconds of work before a break")
    min_break: float = Field(default=600.0, gt=0, description="seconds without a review that count as a break")
    rotate_after: int | None = Field(
        default=None, ge=1, description="reviews in a row in one queue, after which other queues with work go first"
    )


class Webhook(_Strict):
    """Audit events delivered by HTTP POST, in commit order, at least once, signed per the Standard Webhooks
    specification with the secrets in the environment variables ``secret_env`` names (several while one is
    rotated out); a delivery that fails ``max_attempts`` times becomes a dead letter, replayable by hand."""

    url: str = Field(pattern=r"^https?://")
    events: tuple[str, ...] = Field(min_length=1, description="audit actions such as task.escalated, or *")
    secret_env: tuple[str, ...] = Field(default=(), description="environment variables holding whsec_ secrets")
    max_attempts: int = Field(default=10, ge=1, le=100)
    timeout: float = Field(default=15.0, gt=0, le=60, description="seconds the endpoint has to answer")

    @field_validator("secret_env", mode="before")
    @classmethod
    def _one_or_several(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class Network(_Strict):
    """Outbound requests (webhook targets, remote models) go to public addresses only, except to the hosts listed
    here, each by the name or address the URL uses (``127.0.0.1``, ``hooks.internal.example``)."""

    allow: tuple[str, ...] = ()

    @field_validator("allow")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            if not host.strip() or "/" in host or "@" in host:
                raise ValueError(f"{host!r} is not a host: write it as its URLs do, e.g. 127.0.0.1 or hooks.internal")
        return value


class Checkpoints(_Strict):
    """Signed Merkle checkpoints of the audit trail (audit.transparency), written by ``signoff worker`` every
    ``every_events`` sealed events or ``every_seconds`` seconds, whichever comes first, to ``url``: a folder
    (relative to the project file) or an fsspec URL (s3://bucket/audit, file:///srv/audit, memory://audit)."""

    url: str = Field(min_length=1)
    origin: str = Field(
        pattern=r"^[^\s+]+$", max_length=200, description="the log's name in each checkpoint, e.g. bank.example/audit"
    )
    public_key: str = Field(min_length=1, description="the Ed25519 public key (PEM) the checkpoints verify with")
    private_key: str | None = Field(default=None, description="the private key (PEM); only the worker needs it")
    every_events: int = Field(default=10_000, ge=1)
    every_seconds: float = Field(default=300.0, gt=0)
    verify_every: float = Field(default=3600.0, gt=0, description="seconds between the worker's full verifications")


class Costs(_Strict):
    per_review: float = Field(default=0.0, ge=0)
    per_case: float = Field(default=0.0, ge=0)
    currency: str = "USD"


class FlagRateBounds(_Strict):
    """The flag rate (share of cases sent to review) expected in a window; outside it, an alert."""

    min: float | None = Field(default=None, ge=0, le=1)
    max: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _order(self) -> FlagRateBounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


class Alerts(_Strict):
    """Thresholds checked over the last ``window`` by the server (every ``every`` seconds) and by
    ``signoff metrics --check``; a breach records an ``alert.raised`` audit event, which webhooks deliver.
    A threshold left out is not checked. Rates need ``min_cases`` cases in the window to count."""

    window: Literal["hour", "day", "week"] = "hour"
    every: float = Field(default=60.0, ge=1, le=86_400, description="seconds between checks in a server")
    min_cases: int = Field(default=30, ge=1)
    flag_rate: FlagRateBounds | None = None
    drift_psi: float | None = Field(default=None, gt=0, description="largest PSI of any feature or the score")
    sla_compliance: float | None = Field(default=None, gt=0, le=1, description="lowest share of tasks on time")
    audit_lag: float | None = Field(default=None, gt=0, description="seconds the oldest unsealed event may wait")
    fairness_drift: float | None = Field(
        default=None, gt=0, le=1, description="largest move of a group rate or gap from the previous window"
    )

    @property
    def checked(self) -> bool:
        """Whether any threshold is set (otherwise nothing is checked)."""
        thresholds = (self.flag_rate, self.drift_psi, self.sla_compliance, self.audit_lag, self.fairness_drift)
        return any(t is not None for t in thresholds)


class Metrics(_Strict):
    """How the metrics read this flow: ``favourable`` is the label counted as approval in the fairness rates
    (default: the flow's first label)."""

    favourable: str | None = None


class ImageSpec(_Strict):
    """Numeric fields drawn as a grey-scale picture in the review workspace, row by row (the 8x8 digits are
    64 pixel fields). Name the fields in order, or give the ``prefix`` their declared names share."""

    title: str = Field(default="", max_length=200, description="the heading above the picture (default: its name)")
    fields: tuple[str, ...] = ()
    prefix: str | None = Field(default=None, min_length=1)
    width: int = Field(ge=1, le=256)
    height: int = Field(ge=1, le=256)
    low: float = Field(default=0.0, description="the value drawn white")
    high: float = Field(default=1.0, description="the value drawn black")

    @model_validator(mode="after")
    def _one_source(self) -> ImageSpec:
        if bool(self.fields) == (self.prefix is not None):
            raise ValueError("give either 'fields' (in row order) or 'prefix', not both and not neither")
        if self.width * self.height > 4096:
            raise ValueError(f"{self.width}x{self.height} is more than 4,096 pixels")
        if self.high == self.low:
            raise ValueError("'low' and 'high' must differ")
        return self

    def field_names(self, declared: Sequence[str]) -> tuple[str, ...]:
        """The pixel fields in row order."""
        if self.fields:
            return self.fields
        return tuple(name for name in declared if self.prefix is not None and name.startswith(self.prefix))


class Flow(_Strict):
    """One kind of decision."""

    name: Name
    description: str = ""
    labels: tuple[str, ...] = Field(min_length=2)
    fields: dict[str, FieldSpec] = Field(min_length=1)
    extra_fields: Literal["forbid", "ignore"] = "forbid"
    groups: tuple[str, ...] = ()
    entity: str | None = Field(
        default=None, description="the field naming whom a case is about: reviewers see earlier decisions on it"
    )
    images: dict[Name, ImageSpec] = Field(default_factory=dict)
    model: ModelSpec | None = Field(
        default=None, description="none: every case goes to review (cold start) until a model is promoted"
    )
    policy: tuple[Rule, ...] = ()
    queues: dict[Name, QueueSpec] = Field(default_factory=lambda: {"default": QueueSpec()})
    costs: Costs = Costs()
    audit: AuditSpec = AuditSpec()
    calibration: CalibrationSpec = CalibrationSpec()
    alerts: Alerts = Alerts()
    metrics: Metrics = Metrics()
    learning: LearningSpec = LearningSpec()

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be unique")
        return labels

    @model_validator(mode="after")
    def _references(self) -> Flow:
        if not self.queues:
            raise ValueError("a flow needs at least one queue")
        for group in self.groups:
            if group not in self.fields:
                raise ValueError(f"group attribute {group!r} is not one of the fields ({', '.join(self.fields)})")
        if self.entity is not None:
            self._check_field(self.entity, "entity", ("string", "category", "integer"))
        for name, image in self.images.items():
            pixels = image.field_names(list(self.fields))
            if len(pixels) != image.width * image.height:
                raise ValueError(
                    f"image {name!r} is {image.width}x{image.height} = {image.width * image.height} pixels "
                    f"but names {len(pixels)} fields"
                )
            for pixel in pixels:
                self._check_field(pixel, f"image {name!r}", ("number", "integer"))
        names = [rule.name for rule in self.policy]
        if len(set(names)) != len(names):
            raise ValueError("policy rule names must be unique")
        for index, rule in enumerate(self.policy):
            where = f"policy[{index}] ({rule.name!r})"
            if rule.queue is not None and rule.queue not in self.queues:
                raise ValueError(f"{where} sends to queue {rule.queue!r}, which is not declared under 'queues'")
            if isinstance(rule, BandRule) and rule.label not in self.labels:
                raise ValueError(f"{where} names label {rule.label!r}, not one of {list(self.labels)}")
            segment = getattr(rule, "by_segment", None)
            if isinstance(segment, BySegment):
                self._check_segment(segment, where)
            if isinstance(rule, CertifiedRule) and rule.segment_field is not None:
                self._check_field(rule.segment_field, where, ("category", "string", "boolean", "integer"))
            if isinstance(rule, OutOfDistributionRule):
                for field in rule.ranges:
                    self._check_field(field, where, ("number", "integer"))
                for field in rule.categories:
                    self._check_field(field, where, ("category", "string"))
            if isinstance(rule, UncertaintyRule) and rule.measure in ("least_confidence", "margin") and rule.limit > 1:
                raise ValueError(f"{where}: a {rule.measure} limit must be within [0, 1]")
        for name, queue in self.queues.items():
            if queue.escalate_to is not None and queue.escalate_to not in self.queues:
                raise ValueError(f"queue {name!r} escalates to {queue.escalate_to!r}, which is not declared")
            target = queue.consensus.adjudicate_in
            if target is not None and (target not in self.queues or self.queues[target].consensus.reviews > 1):
                raise ValueError(
                    f"queue {name!r} adjudicates in {target!r}, which must be a declared single-review queue"
                )
            if queue.when_exhausted.label is not None and queue.when_exhausted.label not in self.labels:
                raise ValueError(f"queue {name!r}: default label {queue.when_exhausted.label!r} is not a label")
        if self.model is not None and self.model.input is not None:
            for name in self.fields:
                self._check_field(name, f"model.input ({self.model.input!r}, one tensor of every field)", NUMERIC)
        if self.metrics.favourable is not None and self.metrics.favourable not in self.labels:
            raise ValueError(f"metrics.favourable {self.metrics.favourable!r} is not one of {list(self.labels)}")
        self._check_no_escalation_cycle()
        explore = self.learning.explore
        if explore is not None and explore.queue is not None and explore.queue not in self.queues:
            raise ValueError(
                f"learning.explore offers in queue {explore.queue!r}, which is not declared under 'queues'"
            )
        if self.learning.canary.sticky_by is not None:
            self._check_field(self.learning.canary.sticky_by, "learning.canary.sticky_by", STICKY_TYPES)
        if self.audit.queue is not None and self.audit.queue not in self.queues:
            raise ValueError(f"audit sends to queue {self.audit.queue!r}, which is not declared under 'queues'")
        if self.audit.by_segment is not None:
            self._check_segment(self.audit.by_segment, "audit")
        return self

    def _check_no_escalation_cycle(self) -> None:
        for start in self.queues:
            seen, current = {start}, self.queues[start].escalate_to
            while current is not None:
                if current in seen:
                    raise ValueError(f"the escalation chain from queue {start!r} loops back to {current!r}")
                seen.add(current)
                current = self.queues[current].escalate_to

    def _check_field(self, field: str, where: str, types: tuple[str, ...]) -> None:
        spec = self.fields.get(field)
        if spec is None:
            raise ValueError(f"{where} reads field {field!r}, which is not one of {', '.join(self.fields)}")
        if spec.type not in types:
            raise ValueError(f"{where} needs field {field!r} to be {' or '.join(types)}, not {spec.type}")

    def _check_segment(self, segment: BySegment, where: str) -> None:
        self._check_field(segment.field, where, ("category", "string", "boolean", "integer"))
        spec = self.fields[segment.field]
        if spec.values is not None:
            unknown = [v for v in segment.values if v not in spec.values]
            if unknown:
                raise ValueError(f"{where}: segment values {unknown} are not values of {segment.field!r}")

    @property
    def favourable(self) -> str:
        """The label the fairness rates count as approval."""
        return self.metrics.favourable or self.labels[0]

    @property
    def drift_fields(self) -> tuple[str, ...]:
        """The fields whose distribution drift compares: all but the ``entity``, an identifier (new customers give
        new values: its PSI would measure turnover, not a change in the cases)."""
        return tuple(name for name in self.fields if name != self.entity)

    @property
    def default_queue(self) -> str:
        return next(iter(self.queues))

    @property
    def policy_version(self) -> str:
        """The content hash of the policy: the same rules always give the same version."""
        return content_hash(self.policy_document())

    def policy_document(self) -> dict[str, Any]:
        return {
            "flow": self.name,
            "rules": [rule.model_dump(mode="json") for rule in self.policy],
            "queues": {name: q.model_dump(mode="json") for name, q in self.queues.items()},
            "audit": self.audit.model_dump(mode="json"),
            "calibration": self.calibration.model_dump(mode="json"),
        }


class Project(_Strict):
    """A project file: where the data lives and which flows exist."""

    path: Path
    database_url: str
    flows: dict[str, Flow]
    workload: Workload = Workload()
    webhooks: dict[str, Webhook] = Field(default_factory=dict)
    network: Network = Network()
    checkpoints: Checkpoints | None = None

    def flow(self, name: str) -> Flow:
        from signoff.errors import NotFound

        try:
            return self.flows[name]
        except KeyError:
            raise NotFound("flow", name) from None

    def resolve(self, relative: str) -> Path:
        """Resolve a path written in the project file against the file's folder."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.path.parent / candidate


class _ProjectFile(_Strict):
    database_url: str | None = None
    flows: dict[Name, dict[str, Any]] = Field(min_length=1)
    workload: Workload = Workload()
    webhooks: dict[Name, Webhook] = Field(default_factory=dict)
    network: Network = Network()
    checkpoints: Checkpoints | None = None


def _reason(item: Mapping[str, Any]) -> str:
    """A pydantic error said for someone editing YAML."""
    if item["type"] == "extra_forbidden":
        return "unknown field (check its spelling)"
    reason = str(item["msg"]).removeprefix("Value error, ")
    if isinstance(item.get("input"), bool) and item["type"] in ("string_type", "literal_error"):
        reason += " (YAML reads unquoted yes/no/on/off/true/false as booleans: put quotes around it)"
    return reason


def _problems(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[Problem]:
    return problems_of(error.errors(include_url=False), prefix, top="(top level)", reason=_reason)


def default_database_url(folder: Path) -> str:
    return f"sqlite:///{(folder / 'signoff.db').resolve()}"


def parse_project(document: object, path: Path) -> Project:
    """Validate a parsed project document; ``path`` is used for messages and to resolve relative paths."""
    where = str(path)
    try:
        raw = _ProjectFile.model_validate(document)
    except ValidationError as error:
        raise ConfigError(where, _problems(error)) from None
    flows: dict[str, Flow] = {}
    problems: list[Problem] = []
    for name, body in raw.flows.items():
        if not isinstance(body, dict):
            problems.append(Problem(f"flows.{name}", "must be a mapping of flow settings"))
            continue
        try:
            flows[name] = Flow.model_validate({**body, "name": name})
        except ValidationError as error:
            problems.extend(_problems(error, ("flows", name)))
    if problems:
        raise ConfigError(where, problems)
    url = raw.database_url or default_database_url(path.parent)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        # A relative SQLite path in the file means relative to the file, not to wherever the command runs.
        url = f"sqlite:///{(path.parent / url.removeprefix('sqlite:///')).resolve()}"
    url = os.environ.get("SIGNOFF_DATABASE_URL") or url
    return Project(
        path=path.resolve(),
        database_url=url,
        flows=flows,
        workload=raw.workload,
        webhooks=raw.webhooks,
        network=raw.network,
        checkpoints=_resolved(raw.checkpoints, path.parent),
    )


def _resolved(checkpoints: Checkpoints | None, folder: Path) -> Checkpoints | None:
    """The checkpoint settings with the folder and key paths resolved against the project file's folder."""
    if checkpoints is None:
        return None

    def resolve(value: str) -> str:
        return value if "://" in value or Path(value).is_absolute() else str((folder / value).resolve())

    keys = {"public_key": resolve(checkpoints.public_key)}
    if checkpoints.private_key is not None:
        keys["private_key"] = resolve(checkpoints.private_key)
    return checkpoints.model_copy(update={"url": resolve(checkpoints.url), **keys})


def load_project(path: str | os.PathLike[str] | None = None) -> Project:
    """Load the project file named by ``path``, ``$SIGNOFF_PROJECT``, or ``./signoff.yaml``."""
    chosen = Path(path or os.environ.get("SIGNOFF_PROJECT") or "signoff.yaml")
    return parse_project(_read_yaml(chosen, "create one with `signoff init DIR` or pass --project PATH"), chosen)


def _read_yaml(path: Path, hint: str) -> object:
    """The YAML document in ``path``, or a ConfigError naming the file and where it is not YAML."""
    if not path.is_file():
        raise ConfigError(str(path), [Problem("(file)", f"not found; {hint}")])
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError(str(path), [Problem(where, f"not valid YAML: {reason}")]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(str(path), [Problem("(file)", f"not UTF-8 text: {error}")]) from None


def with_policy(flow: Flow, path: Path) -> Flow:
    """``flow`` with the rules of the policy file ``path`` instead of its own: a YAML list of rules, written as
    under the flow's ``policy:``, checked as the flow file's are (labels, queues, fields)."""
    document = _read_yaml(path, "a policy file is a YAML list of rules, as under a flow's 'policy:'")
    return with_policy_rules(flow, document, str(path), "(top level)")


def with_policy_rules(flow: Flow, rules: object, where: str, place: str = "policy") -> Flow:
    """``flow`` with ``rules`` (a list, as under a flow's ``policy:``) instead of its own, checked as the flow
    file's are; a ``ConfigError`` names ``where`` and, when ``rules`` is not a list, ``place``."""
    if not isinstance(rules, list):
        raise ConfigError(where, [Problem(place, "must be a list of rules, as under a flow's 'policy:'")])
    try:
        return Flow.model_validate({**dict(flow), "policy": rules})
    except ValidationError as error:
        raise ConfigError(where, _problems(error)) from None
