"""The rows the store hands out, as frozen records. They live in the store because ``from_row`` is where its column
names and stored values (text statuses, SQLite's time text) become types (enums, aware UTC times): the layers above
read attributes that mypy checks and compare statuses as enums, and never see a SQLAlchemy ``Row``. The services
pass these records on; the edges turn them into their response models and templates.

``from_row`` takes any row with attribute access: a SQLAlchemy ``Row`` or a named query's named tuple.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from signoff.domain import (
    CaseId,
    CaseStatus,
    DecidedBy,
    LeaseEnd,
    ModelVersionId,
    TaskId,
    TaskKind,
    TaskStatus,
    UserId,
    Verdict,
)
from signoff.store.schema import as_utc


def _time(value: object) -> datetime | None:
    return None if value is None else as_utc(value)


@dataclass(frozen=True)
class Lease:
    """A reviewer's time-limited claim on a task; ``token`` fences out every older holder. ``reviewer_id`` is None
    when it is hidden from the caller (``review.views``)."""

    task_id: TaskId
    token: int
    reviewer_id: UserId | None
    acquired_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: LeaseEnd | None

    @classmethod
    def from_row(cls, row: Any) -> Lease:
        return cls(
            TaskId(row.task_id),
            row.token,
            UserId(row.reviewer_id),
            as_utc(row.acquired_at),
            as_utc(row.expires_at),
            _time(row.ended_at),
            None if row.end_reason is None else LeaseEnd(row.end_reason),
        )


@dataclass(frozen=True)
class Task:
    """A unit of review work on a case, and its current lease (``lease_token`` 0: never leased). ``lease_owner``
    and ``assignee`` are None when hidden from the caller; ``leases`` is filled only in a case's record."""

    id: TaskId
    case_id: CaseId
    flow: str
    queue: str
    role: str
    priority: int
    status: TaskStatus
    lease_token: int
    lease_owner: UserId | None
    lease_expires_at: datetime | None
    lease_ttl: float
    created_at: datetime
    completed_at: datetime | None
    kind: TaskKind
    due_at: datetime | None
    assignee: UserId | None
    leases: tuple[Lease, ...] = ()

    @classmethod
    def from_row(cls, row: Any) -> Task:
        return cls(
            TaskId(row.id),
            CaseId(row.case_id),
            row.flow,
            row.queue,
            row.role,
            row.priority,
            TaskStatus(row.status),
            row.lease_token,
            None if row.lease_owner is None else UserId(row.lease_owner),
            _time(row.lease_expires_at),
            float(row.lease_ttl),
            as_utc(row.created_at),
            _time(row.completed_at),
            TaskKind(row.kind),
            _time(row.due_at),
            None if row.assignee is None else UserId(row.assignee),
        )


@dataclass(frozen=True)
class Review:
    """One reviewer's answer on a task, given under lease ``lease_token``."""

    id: int
    task_id: TaskId
    case_id: CaseId
    reviewer_id: UserId
    lease_token: int
    label: str
    comment: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Review:
        return cls(
            row.id,
            TaskId(row.task_id),
            CaseId(row.case_id),
            UserId(row.reviewer_id),
            row.lease_token,
            row.label,
            row.comment,
            as_utc(row.created_at),
        )


@dataclass(frozen=True)
class Decision:
    """A case's one decision. ``review_id`` names the deciding review, ``model_version_id`` the deciding model
    version. ``task_id``/``queue`` (the task whose work decided it; None for the model at intake) and
    ``escalation_exhausted`` (the queue's default-safe action decided because its escalation chain ran out) are
    known when the decision is made and kept in its audit event, not in the decisions table: a decision read
    back from the store has them unset."""

    case_id: CaseId
    label: str
    decided_by: DecidedBy
    created_at: datetime
    task_id: TaskId | None = None
    queue: str | None = None
    review_id: int | None = None
    model_version_id: int | None = None
    escalation_exhausted: bool = False

    @classmethod
    def from_row(cls, row: Any) -> Decision:
        return cls(
            CaseId(row.case_id),
            row.label,
            DecidedBy(row.decided_by),
            as_utc(row.created_at),
            review_id=row.review_id,
            model_version_id=row.model_version_id,
        )

    def audit_data(self) -> dict[str, object]:
        """The one shape of a decision in the audit trail: the data of ``case.decided`` and of the ``decision``
        inside ``case.submitted`` (a model decision at intake)."""
        return {
            "label": self.label,
            "decided_by": self.decided_by.value,
            "task_id": self.task_id,
            "queue": self.queue,
            "review_id": self.review_id,
            "model_version_id": self.model_version_id,
            "escalation_exhausted": self.escalation_exhausted,
        }


@dataclass(frozen=True)
class Prediction:
    """A model version's output on a case (``problem`` says why it was refused, if it was)."""

    id: int
    case_id: CaseId
    model_version_id: ModelVersionId
    probabilities: list[float] | None
    label: str | None
    confidence: float | None
    problem: str | None
    created_at: datetime
    model_version: str

    @classmethod
    def from_row(cls, row: Any) -> Prediction:
        return cls(
            row.id,
            CaseId(row.case_id),
            ModelVersionId(row.model_version_id),
            row.probabilities,
            row.label,
            row.confidence,
            row.problem,
            as_utc(row.created_at),
            row.model_version,
        )


@dataclass(frozen=True)
class CaseRoute:
    """Where the policy sent a case, as recorded (``routing.Route`` is the policy's answer before it is)."""

    id: int
    case_id: CaseId
    prediction_id: int
    policy_version: str
    verdict: Verdict
    rule: str | None
    reason: str
    queue: str | None
    priority: int
    created_at: datetime
    role: str | None
    sla: float | None
    inclusion_probability: float | None

    @classmethod
    def from_row(cls, row: Any) -> CaseRoute:
        return cls(
            row.id,
            CaseId(row.case_id),
            row.prediction_id,
            row.policy_version,
            Verdict(row.verdict),
            row.rule,
            row.reason,
            row.queue,
            row.priority,
            as_utc(row.created_at),
            row.role,
            row.sla,
            row.inclusion_probability,
        )


@dataclass(frozen=True)
class Case:
    """A submitted case. ``fields`` and ``groups`` are its JSON values as the flow declares them. The related
    records (predictions, routes, tasks with their leases, reviews, decision) are filled in a case's whole record
    (``store.cases.case_record``) and empty elsewhere."""

    id: CaseId
    flow: str
    external_id: str | None
    fields: dict[str, Any]
    payload_hash: str
    groups: dict[str, Any]
    status: CaseStatus
    created_at: datetime
    decided_at: datetime | None
    submitted_by: str | None
    traceparent: str | None
    entity: str | None
    predictions: tuple[Prediction, ...] = ()
    routes: tuple[CaseRoute, ...] = ()
    tasks: tuple[Task, ...] = ()
    reviews: tuple[Review, ...] = ()
    decision: Decision | None = None

    @classmethod
    def from_row(cls, row: Any) -> Case:
        return cls(
            CaseId(row.id),
            row.flow,
            row.external_id,
            row.fields,
            row.payload_hash,
            row.groups,
            CaseStatus(row.status),
            as_utc(row.created_at),
            _time(row.decided_at),
            row.submitted_by,
            row.traceparent,
            row.entity,
        )


@dataclass(frozen=True)
class CaseSummary:
    """What a submitter learns of a case: its route and, if made, its decision."""

    id: CaseId
    external_id: str | None
    status: CaseStatus
    verdict: Verdict
    rule: str | None
    reason: str
    queue: str | None
    decision: str | None
    decided_by: DecidedBy | None

    @classmethod
    def from_row(cls, row: Any) -> CaseSummary:
        return cls(
            CaseId(row.id),
            row.external_id,
            CaseStatus(row.status),
            Verdict(row.verdict),
            row.rule,
            row.reason,
            row.queue,
            row.decision,
            None if row.decided_by is None else DecidedBy(row.decided_by),
        )


@dataclass(frozen=True)
class EarlierCase:
    """An earlier case about the same entity, with its decision if it has one (``label``)."""

    id: CaseId
    external_id: str | None
    created_at: datetime
    status: CaseStatus
    label: str | None
    decided_by: DecidedBy | None
    decided_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> EarlierCase:
        return cls(
            CaseId(row.id),
            row.external_id,
            as_utc(row.created_at),
            CaseStatus(row.status),
            row.label,
            None if row.decided_by is None else DecidedBy(row.decided_by),
            _time(row.decided_at),
        )
