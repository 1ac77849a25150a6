"""Request, response and error bodies. Pydantic lives here, at the edge; the services take plain values.

Every text a body carries is a ``Name`` or a ``Text`` (``signoff.text``'s policy) and every id an ``Id``, so bad
text and out-of-range numbers are refused with 422 before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PlainSerializer

from signoff.domain import Id, LeaseToken
from signoff.learning.records import Comparison  # a plain record: no numerical stack to import
from signoff.text import Name, Text


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseIn(_Body):
    # external_id and the field values are checked against the flow and the text policy by intake.validate_case,
    # the one check shared with files and brokers
    external_id: str | None = Field(default=None, description="Your id for the case; makes submission idempotent.")
    fields: dict[str, Any] = Field(description="The case's field values, as the flow's schema declares them.")


class BatchIn(_Body):
    cases: list[CaseIn] = Field(min_length=1)


class ClaimIn(_Body):
    flow: Name | None = None
    queue: Name | None = None


class LeaseIn(_Body):
    token: LeaseToken = Field(description="The fencing token the claim returned.")


class ReviewIn(LeaseIn):
    label: Name
    comment: Text = ""


class SkipIn(LeaseIn):
    reason: Text = Field(description="Why you pass this task on; shown to leads and kept in the audit trail.")
    unsure: bool = Field(default=False, description="True when you looked but could not decide.")


class AssignIn(_Body):
    reviewer: Name | None = Field(description="Who alone may claim the task; null frees it for everyone again.")


class SkillsIn(_Body):
    skills: list[Name] = Field(max_length=100, description="The reviewer's skills; queues may require some.")


class ConflictIn(_Body):
    case_id: Id
    reason: Text = Field(min_length=1, max_length=1000)


class GoldCaseIn(_Body):
    fields: dict[str, Any] = Field(description="The case's field values, as the flow's schema declares them.")
    label: Name = Field(description="The known answer.")


class GoldIn(_Body):
    cases: list[GoldCaseIn] = Field(min_length=1)


class ProblemOut(BaseModel):
    location: str = Field(description="Where in the request, e.g. 'cases[3].fields.amount'.")
    reason: str


class ErrorDetail(BaseModel):
    type: str = Field(description="e.g. invalid_input, not_found, conflict, unauthenticated, forbidden, too_large.")
    message: str
    problems: list[ProblemOut] | None = Field(default=None, description="What was wrong, for invalid_input.")
    omitted: int | None = Field(default=None, description="How many more problems there were than are listed.")


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


# Responses. Each lists what a client gets; a key the service's record holds beyond these (internal columns such
# as a case's trace context) is dropped on the way out.

Time = Annotated[datetime, PlainSerializer(lambda at: at.isoformat(), return_type=str)]  # ISO 8601, "+00:00"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the services' dataclasses and records


class HealthOut(_Out):
    status: str = Field(description="'ok'")


class ReadyOut(_Out):
    status: str = Field(description="'ready', or 'unavailable' (503)")
    reason: str | None = Field(default=None, description="Why not ready; only when unavailable.")


class FlowOut(_Out):
    name: str
    description: str
    labels: list[str]
    fields: dict[str, dict[str, JsonValue]] = Field(description="Each field's schema: type, required, bounds, values.")
    groups: list[str]
    model_version: str
    policy_version: str
    queues: list[str]


class FlowsOut(_Out):
    flows: list[FlowOut]


class SubmittedOut(_Out):
    case_id: int
    external_id: str | None
    created: bool = Field(description="False when the external id was already recorded with the same payload.")
    status: str
    verdict: str
    rule: str | None
    reason: str
    queue: str | None
    decision: str | None
    decided_by: str | None


class SubmittedOneOut(_Out):
    case: SubmittedOut


class SubmittedBatchOut(_Out):
    cases: list[SubmittedOut]


class PredictionOut(_Out):
    id: int
    case_id: int
    model_version_id: int
    probabilities: list[float] | None
    label: str | None
    confidence: float | None
    problem: str | None = Field(description="Why the model's output was refused, if it was.")
    created_at: Time
    model_version: str


class RouteOut(_Out):
    id: int
    case_id: int
    prediction_id: int
    policy_version: str
    verdict: str
    rule: str | None
    reason: str
    queue: str | None
    priority: int
    created_at: Time
    role: str | None
    sla: float | None
    inclusion_probability: float | None


class LeaseOut(_Out):
    task_id: int
    token: int
    reviewer_id: int | None = Field(description="Null unless it is the caller or the caller oversees the flow.")
    acquired_at: Time
    expires_at: Time
    ended_at: Time | None
    end_reason: str | None


class TaskOut(_Out):
    id: int
    case_id: int
    flow: str
    queue: str
    role: str
    priority: int
    status: str = Field(description="queued, leased or done")
    lease_token: int
    lease_owner: int | None = Field(description="Null unless it is the caller or the caller oversees the flow.")
    lease_expires_at: Time | None
    lease_ttl: float
    created_at: Time
    completed_at: Time | None
    kind: str = Field(description="review, audit, adjudication, explore; gold only to those who oversee the flow.")
    due_at: Time | None
    assignee: int | None = Field(description="Null unless it is the caller or the caller oversees the flow.")


class CaseTaskOut(TaskOut):
    leases: list[LeaseOut]


class ReviewOut(_Out):
    id: int
    task_id: int
    case_id: int
    reviewer_id: int
    lease_token: int
    label: str
    comment: str
    created_at: Time


class DecisionOut(_Out):
    case_id: int
    label: str
    decided_by: str
    model_version_id: int | None
    review_id: int | None
    created_at: Time


class FlowDecisionOut(DecisionOut):
    seq: int = Field(description="The decision's event's place in the sealed audit trail: the cursor to resume after.")
    external_id: str | None


class DecisionPageOut(_Out):
    decisions: list[FlowDecisionOut]
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null when caught up (then resume after the last `seq`)."
    )


class CaseOut(_Out):
    id: int
    flow: str
    external_id: str | None
    fields: dict[str, JsonValue]
    payload_hash: str
    groups: dict[str, JsonValue]
    status: str
    created_at: Time
    decided_at: Time | None
    submitted_by: str | None
    entity: str | None = Field(description="Whom the case is about: the value of the flow's entity field.")
    predictions: list[PredictionOut]
    routes: list[RouteOut]
    tasks: list[CaseTaskOut]
    reviews: list[ReviewOut]
    decision: DecisionOut | None


class TaskPageOut(_Out):
    tasks: list[TaskOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


class QueueLoadOut(_Out):
    flow: str
    queue: str
    open: int
    leased: int
    oldest: Time | None
    overdue: int
    at_risk: int
    done_last_hour: int
    oldest_age_seconds: float | None


class ReviewerLoadOut(_Out):
    name: str
    leases_held: int
    reviews_last_hour: int


class QueuesOut(_Out):
    at: Time
    risk_window: float
    queues: list[QueueLoadOut]
    reviewers: list[ReviewerLoadOut]


class ClaimedTaskOut(_Out):
    id: int
    flow: str
    queue: str
    kind: str


class HeldLeaseOut(_Out):
    token: int
    expires_at: Time


class ClaimOut(_Out):
    task: ClaimedTaskOut
    lease: HeldLeaseOut
    labels: list[str]
    case: CaseOut


class HeldTaskOut(_Out):
    task: ClaimedTaskOut
    case_id: int
    lease: HeldLeaseOut


class HeldTasksOut(_Out):
    tasks: list[HeldTaskOut]


class HeartbeatOut(_Out):
    lease: HeldLeaseOut


class DecidedOut(_Out):
    review_id: int
    case_id: int
    label: str | None = Field(description="The case's decision; null while it awaits more reviews or adjudication.")
    decided_by: str | None = Field(description="reviewer, consensus, adjudication or model; null while undecided.")
    replayed: bool = Field(description="True when this exact review was submitted before; nothing changed.")


class SubmittedReviewOut(_Out):
    review_id: int
    decision: DecidedOut


class SkippedOut(_Out):
    skipped: int


class ReleasedOut(_Out):
    released: int


class GoldAccuracyOut(_Out):
    reviewer: str
    flow: str
    queue: str
    answered: int
    correct: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float


class PauseOut(_Out):
    id: int
    reviewer: str
    reviewer_id: int
    flow: str
    queue: str
    reason: str
    created_at: Time
    lifted_at: Time | None
    lifted_by: str | None


class QueueAgreementOut(_Out):
    flow: str
    queue: str
    cases: int
    krippendorff_alpha: float | None
    fleiss_kappa: float | None


class PairAgreementOut(_Out):
    reviewers: list[str]
    cases: int
    cohen_kappa: float | None


class DecisionAgreementOut(_Out):
    reviewer: str
    cases: int
    kappa_with_decision: float | None


class AgreementOut(_Out):
    queues: list[QueueAgreementOut]
    pairs: list[PairAgreementOut]
    reviewers: list[DecisionAgreementOut]


class ReviewersOut(_Out):
    at: Time
    reviewers: list[ReviewerLoadOut]
    gold: list[GoldAccuracyOut]
    pauses: list[PauseOut]
    agreement: AgreementOut


class AssignedOut(_Out):
    task_id: int
    assignee: str | None


class SkillsOut(_Out):
    name: str
    skills: list[str]


class ConflictOut(_Out):
    name: str
    case_id: int


class PauseLiftedOut(_Out):
    name: str
    flow: str
    queue: str
    paused: bool


class DeliveryOut(_Out):
    """One webhook delivery: a message carrying the sealed audit events first_seq to last_seq that match the
    webhook's events, sent with the same webhook-id on every attempt."""

    id: str = Field(description="The webhook-id header of every attempt.")
    webhook: str
    first_seq: int
    last_seq: int
    events: int = Field(description="How many audit events it carries.")
    status: Literal["pending", "delivered", "dead"] = Field(description="dead: max_attempts failed (a dead letter)")
    attempts: int
    last_error: str | None = Field(description="Why the latest failed attempt failed; kept after a success.")
    next_attempt_at: Time | None
    created_at: Time
    delivered_at: Time | None


class DeliveriesOut(_Out):
    deliveries: list[DeliveryOut] = Field(description="The latest events first.")


class GoldAddedOut(_Out):
    added: int = Field(description="How many gold cases were added.")


class PointOut(_Out):
    start: Time
    cases: int
    flag_rate: float | None
    sla_compliance: float | None
    turnaround_p95: float | None
    turnaround_p50: float | None
    cost_per_corrected: float | None


class BinOut(_Out):
    low: float
    high: float
    count: int


class MetricsOut(_Out):
    """A flow's KPIs over one window; the parts are described in the metrics reference."""

    flow: str
    window: str
    start: Time
    end: Time
    cases: int
    flagged: int
    flag_rate: float | None
    flag_rate_by_reason: dict[str, float]
    turnaround: dict[str, JsonValue] | None
    sla: dict[str, JsonValue]
    accuracy: dict[str, JsonValue]
    fairness: dict[str, dict[str, JsonValue]]
    fairness_drift: dict[str, list[dict[str, JsonValue]]]
    cost: dict[str, JsonValue]
    reviewers: dict[str, JsonValue]
    drift: dict[str, JsonValue]
    series: list[PointOut]
    turnaround_bins: list[BinOut]
    fairness_previous: dict[str, dict[str, JsonValue]]


class OutcomeOut(_Out):
    id: int
    case_id: int
    label: str
    source: str
    observed_at: Time | None
    created: bool = Field(description="False when the same outcome from the same source was recorded before.")


class OutcomeOneOut(_Out):
    outcome: OutcomeOut


class OutcomeBatchOut(_Out):
    outcomes: list[OutcomeOut]


class LabelConflictOut(_Out):
    id: int
    flow: str
    case_id: int
    kind: str = Field(description="reviewers, gold, outcome, outcomes or paused.")
    details: dict[str, JsonValue] = Field(
        description="The disagreeing labels: answers, outcomes, the decision, pauses."
    )
    created_at: Time
    resolved: bool
    resolved_label: str | None
    resolved_by: str | None
    resolved_at: Time | None
    reason: str | None


class LabelConflictsOut(_Out):
    conflicts: list[LabelConflictOut]


class LabelCheckOut(_Out):
    found: int = Field(description="Conflicts the evidence shows now, recorded or not before.")
    new: list[LabelConflictOut]
    reopened: list[LabelConflictOut] = Field(description="Resolved before; their evidence grew since.")
    updated: list[LabelConflictOut]
    open: list[LabelConflictOut] = Field(description="Every unresolved conflict of the flow after the check.")


class ResolveIn(_Body):
    label: Name = Field(description="The label that wins: one of the flow's labels.")
    reason: Text = Field(description="Why; kept in the audit trail.")


# ---- the model registry ----------------------------------------------------------------------------------------


class PromoteIn(_Body):
    reason: Text = Field(min_length=1, max_length=2000, description="Why; kept in the audit trail.")
    override: bool = Field(
        default=False, description="Promote even if the gate refuses; audited as an override with the refusal."
    )


class RollbackIn(_Body):
    reason: Text = Field(min_length=1, max_length=2000, description="Why; kept in the audit trail.")
    version: Name | None = Field(
        default=None, description="The version to serve again; by default the champion the current one replaced."
    )


class ExampleOut(_Out):
    case_id: int
    label: str
    source: str = Field(description="Where the label came from (review, consensus, outcome, audit, ...).")
    part: str = Field(description="train or validation")


class LineageOut(_Out):
    training_set_id: int
    window_start: Time | None
    window_end: Time | None
    sha256: str | None
    sources: dict[str, int] = Field(description="Examples per label source.")
    examples: list[ExampleOut]


class ModelVersionOut(_Out):
    id: int
    flow: str
    version: str
    kind: str
    uri: str = Field(description="The artifact: a path under the project's folder, or the flow file's model.")
    sha256: str | None = Field(description="SHA-256 of the artifact file.")
    status: str = Field(description="candidate, shadow, canary, champion or retired")
    parent_id: int | None
    training_set_id: int | None
    metrics: dict[str, float] = Field(description="Held-out metrics recorded at registration.")
    fingerprint: str | None = Field(description="Stable SHA-256 of the model (null for a flow file's model).")
    created_at: Time
    created_by: str | None
    status_changed_at: Time | None
    status_changed_by: str | None
    canary_share: float | None = Field(default=None, description="The share of cases it routes, as a canary.")
    canary_sticky_by: str | None = Field(
        default=None, description="The field keeping a canary's cases together; null: by case."
    )


class ShadowIn(_Body):
    reason: Text = Field(min_length=1, max_length=2000, description="Why; kept in the audit trail.")


class CanaryIn(ShadowIn):
    share: float | None = Field(
        default=None, gt=0, lt=1, description="The share of cases it routes; by default learning.canary.share."
    )
    sticky_by: Name | None = Field(
        default=None, description="A field whose value keeps cases together; by default learning.canary.sticky_by."
    )


class DiscordanceOut(_Out):
    challenger_only: int = Field(description="Labelled cases only the shadow or canary gets wrong.")
    champion_only: int = Field(description="Labelled cases only the champion gets wrong.")
    challenger_only_weight: float
    champion_only_weight: float
    z: float = Field(description="Weighted McNemar statistic; positive when the shadow or canary errs more.")
    p_value: float


class RunningOut(_Out):
    flow: str
    champion: str
    version: str
    status: str = Field(description="shadow or canary")
    share: float | None
    sticky_by: str | None
    cases: int = Field(description="Cases both versions scored (the canary's routed cases, or the shadow's).")
    labelled: int = Field(description="Of them, those a human labelled (flagged and reviewed, or audited).")
    effective: float | None = Field(description="Their effective number, as weighted by inclusion probability.")
    champion_error: float | None
    challenger_error: float | None
    test: DiscordanceOut | None
    min_evidence: int
    alpha: float
    worse: bool = Field(description="Whether the canary is significantly worse: it is then rolled back.")
    statement: str


class ChallengerOut(_Out):
    running: RunningOut | None = Field(description="Null when the flow has no version in shadow or canary.")


class ModelVersionDetailOut(ModelVersionOut):
    lineage: LineageOut | None = Field(description="What it was trained on; null without a recorded training set.")


class ModelVersionsOut(_Out):
    versions: list[ModelVersionOut]


class CertifiedOut(_Out):
    able: bool = Field(description="Whether the certified rules still certify with the challenger's scores.")
    reason: str


class EvidenceOut(_Out):
    # the comparisons are the learning layer's own records: no internal field and no time in them to hide or
    # convert, so they are served as they are, described by their docstrings
    flow: str
    champion: str
    challenger: str
    promote: bool = Field(description="The gate's decision.")
    reasons: list[str] = Field(description="Each failed condition with its numbers.")
    passed: list[str] = Field(description="Each condition met, with its numbers.")
    held_out: Comparison = Field(description="Both models on the held-out human-verified cases (judged).")
    audit_sample: Comparison | None = Field(
        description="Both models on the random audit sample neither trained on, weighted (reported, not judged)."
    )
    certified: CertifiedOut
    calibration_cases: int = Field(description="Labelled cases each model's learning rules were calibrated on.")
    unscored: int = Field(description="Held-out cases left out because a model could not score them.")


class PromotedOut(_Out):
    version: ModelVersionOut
    rescored: int = Field(description="Open review cases scored by the new champion.")
    overridden: bool = Field(description="Promoted over the gate's refusal.")
    gate: EvidenceOut | None = Field(
        description="The evidence and the gate's decision; null when none could be gathered."
    )


class RolledBackOut(_Out):
    previous: ModelVersionOut = Field(description="The champion replaced.")
    version: ModelVersionOut = Field(description="The champion again.")
    rescored: int = Field(description="Open review cases scored by it.")
