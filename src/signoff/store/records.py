"""The rows the store hands out, as frozen records. They live in the store because ``from_row`` is where its column
names and stored values (text statuses, SQLite's time text) become types (enums, aware UTC times): the layers above
read attributes that mypy checks and compare statuses as enums, and never see a SQLAlchemy ``Row``. The services
pass these records on; the edges turn them into their response models and templates. What the services write goes
in as the same records (an ``id`` of 0 until the insert gives one): ``store.cases`` turns them into SQL parameters.

``from_row`` takes any row that names its columns (``_fields``): a SQLAlchemy ``Row`` or a named query's named tuple.
It reads each field by its type, so that a record is its field list and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from types import UnionType
from typing import Any, NamedTuple, Self, get_args, get_type_hints

from signoff.domain import (
    CaseId,
    CaseStatus,
    ConflictKind,
    DecidedBy,
    Fields,
    LeaseEnd,
    ModelVersionId,
    TaskId,
    TaskKind,
    TaskStatus,
    UserId,
    Verdict,
)
from signoff.store.schema import as_utc


class _Record:
    """Gives a record ``from_row``: every field the row has a column for, read by the field's type (an enum from
    its value, a time as aware UTC); a field the row has no column for keeps its default (the related records, and
    what only a decision's audit event holds)."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
        values: dict[str, Any] = {}
        for name, index, read in _plan(cls, row._fields):
            value = row[index]
            values[name] = value if read is None or value is None else read(value)
        return cls(**values)


_Plan = tuple[tuple[str, int, Callable[[Any], object] | None], ...]
_PLANS: dict[tuple[type, tuple[str, ...]], _Plan] = {}


def _plan(record: type[_Record], columns: tuple[str, ...]) -> _Plan:
    """How rows of these columns fill this record: (field, column position, reader or None for a value kept as
    stored), worked out once per record and column list. A claim and a submit each read a record; looking each
    field's type up on every row cost them more than their SQL."""
    found = _PLANS.get((record, columns))
    if found is None:
        hints = get_type_hints(record)
        where = {column: index for index, column in enumerate(columns)}
        # fields() wants a dataclass instance's type, which _Record's subclasses all are
        found = _PLANS[record, columns] = tuple(
            (f.name, where[f.name], _reader(hints[f.name]))
            for f in fields(record)  # type: ignore[arg-type]
            if f.name in where
        )
    return found


def _reader(hint: object) -> Callable[[Any], object] | None:
    """How a stored value of a field typed ``hint`` is read: enums from their value, times as aware UTC; None for
    a value kept as stored."""
    kinds = [a for a in get_args(hint) if a is not type(None)] if isinstance(hint, UnionType) else [hint]
    kind = kinds[0] if len(kinds) == 1 else None
    if kind is datetime:
        return as_utc
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind
    return None


@dataclass(frozen=True)
class Lease(_Record):
    """A reviewer's time-limited claim on a task; ``token`` fences out every older holder. ``reviewer_id`` is None
    when it is hidden from the caller (``review.views``)."""

    task_id: TaskId
    token: int
    reviewer_id: UserId | None
    acquired_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: LeaseEnd | None


@dataclass(frozen=True)
class Task(_Record):
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


@dataclass(frozen=True)
class Claim(_Record):
    """A task leased to a reviewer until ``expires_at``; ``token`` must come back with every call. The claim
    statements return these columns and no others: a claim reads what it hands out, not the whole task."""

    task_id: TaskId
    case_id: CaseId
    flow: str
    queue: str
    kind: TaskKind
    token: int
    expires_at: datetime


@dataclass(frozen=True)
class Review(_Record):
    """One reviewer's answer on a task, given under lease ``lease_token``."""

    id: int
    task_id: TaskId
    case_id: CaseId
    reviewer_id: UserId
    lease_token: int
    label: str
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class Decision(_Record):
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
class SealedDecision(_Record):
    """A case's decision at the place in the sealed audit chain where it was made: ``seq``, the cursor a reader of
    a flow's decisions resumes after (seals are numbered in commit order, so none is ever added behind it)."""

    seq: int
    case_id: CaseId
    external_id: str | None
    label: str
    decided_by: DecidedBy
    model_version_id: int | None
    review_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Prediction(_Record):
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


@dataclass(frozen=True)
class CaseRoute(_Record):
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


@dataclass(frozen=True)
class Case(_Record):
    """A submitted case. ``fields`` and ``groups`` are its JSON values as the flow declares them. The related
    records (predictions, routes, tasks with their leases, reviews, decision) are filled in a case's whole record
    (``store.cases.case_record``) and empty elsewhere."""

    id: CaseId
    flow: str
    external_id: str | None
    fields: Fields
    payload_hash: str
    groups: Fields
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


@dataclass(frozen=True)
class NewCases:
    """A batch of cases to record at intake with their predictions and routes, as columns (one sequence per column,
    the same length, in batch order) rather than a ``Case``, a ``Prediction`` and a ``CaseRoute`` per case: at a
    million cases, building and unpacking those records cost more than the database takes to store the rows. The
    case ids are reserved before (``store.cases.new_case_ids``); what every case shares is given once."""

    flow: str
    created_at: datetime
    submitted_by: str
    policy_version: str
    case_ids: Sequence[CaseId]
    external_ids: Sequence[str | None]
    fields: Sequence[Fields]
    payload_hashes: Sequence[str]
    groups: Sequence[Fields]
    statuses: Sequence[CaseStatus]
    decided: Sequence[bool]
    traceparents: Sequence[str | None]
    entities: Sequence[str | None]
    model_version_ids: Sequence[int]
    probabilities: Sequence[list[float] | None]
    labels: Sequence[str | None]
    confidences: Sequence[float | None]
    problems: Sequence[str | None]
    verdicts: Sequence[Verdict]
    rules: Sequence[str | None]
    reasons: Sequence[str]
    queues: Sequence[str | None]
    roles: Sequence[str | None]
    priorities: Sequence[int]
    slas: Sequence[float | None]
    inclusion_probabilities: Sequence[float | None]


@dataclass(frozen=True)
class Submitted(_Record):
    """What a submitter learns about a case: how it was routed and, if decided, the decision. ``created`` is False
    when intake found the external id recorded before with the same payload."""

    case_id: CaseId
    external_id: str | None
    status: CaseStatus
    verdict: Verdict
    rule: str | None
    reason: str
    queue: str | None
    decision: str | None
    decided_by: DecidedBy | None
    created: bool = True


@dataclass(frozen=True)
class EarlierCase(_Record):
    """An earlier case about the same entity, with its decision if it has one (``label``)."""

    id: CaseId
    external_id: str | None
    created_at: datetime
    status: CaseStatus
    label: str | None
    decided_by: DecidedBy | None
    decided_at: datetime | None


@dataclass(frozen=True)
class Verified(_Record):
    """A reviewer's label on a case sampled for verification, with the case's fields and the probabilities the
    model gave it: what the learning rules are certified on."""

    label: str
    probabilities: list[float]
    fields: Fields


@dataclass(frozen=True)
class QueueLoad(_Record):
    """One flow's queue as a lead watches it: open tasks, how many are leased, the oldest, those overdue or at SLA
    risk, and those completed in the last hour. ``oldest_age_seconds`` (by the database clock) and the agreement
    figures (``agreement_cases``, ``krippendorff_alpha``) are not stored: ``review.queues`` and ``review.floor``
    fill them."""

    flow: str
    queue: str
    open: int
    leased: int
    oldest: datetime | None
    overdue: int
    at_risk: int
    done_last_hour: int
    oldest_age_seconds: float | None = None
    agreement_cases: int = 0
    krippendorff_alpha: float | None = None


@dataclass(frozen=True)
class ReviewerLoad(_Record):
    """A reviewer's leases held now and reviews submitted in the last hour."""

    name: str
    leases_held: int
    reviews_last_hour: int


@dataclass(frozen=True)
class GoldAccuracy(_Record):
    """A reviewer's gold answers on one queue, and the correct ones. The accuracy and its 95% interval are not
    stored: ``review.queues`` fills them."""

    reviewer: str
    flow: str
    queue: str
    answered: int
    correct: int
    accuracy: float | None = None
    accuracy_low: float | None = None
    accuracy_high: float | None = None


@dataclass(frozen=True)
class Pause(_Record):
    """A reviewer paused on a queue (gold accuracy fell too low), with the reviewer's name; open while
    ``lifted_at`` is None."""

    id: int
    reviewer_id: UserId
    reviewer: str
    flow: str
    queue: str
    reason: str
    created_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None


@dataclass(frozen=True)
class ConsensusAnswer(_Record):
    """One reviewer's answer on a case several reviewed independently, and the case's decision (None while
    undecided): what agreement is measured on."""

    case_id: CaseId
    flow: str
    queue: str
    reviewer: str
    label: str
    decision: str | None


@dataclass(frozen=True)
class OpenTask(_Record):
    """An open task as the lead's floor lists it, with the names of its assignee and of whoever holds a live lease
    on it. ``age_seconds`` and ``sla`` (overdue, at risk, on time; None without a due time) are judged by the
    database clock in ``review.floor``, not stored."""

    id: TaskId
    case_id: CaseId
    flow: str
    queue: str
    role: str
    kind: TaskKind
    priority: int
    created_at: datetime
    due_at: datetime | None
    assignee: str | None
    holder: str | None
    age_seconds: float | None = None
    sla: str | None = None


@dataclass(frozen=True)
class TaskToLabel(_Record):
    """An open task as a labelling tool outside Signoff is sent it: the task, its case's external id and fields, and
    the case's latest prediction: its label and confidence (None when the output was refused) and model version."""

    task_id: TaskId
    case_id: CaseId
    flow: str
    queue: str
    kind: TaskKind
    external_id: str | None
    fields: Fields
    label: str | None
    confidence: float | None
    model_version: str | None


@dataclass(frozen=True)
class RecordedEvent(_Record):
    """An audit event as recorded: ``AuditEvent`` with its id and time. ``data`` is the event's JSON document."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RoutedCase(_Record):
    """One of a flow's latest routed cases as the routing state's memory needs it: its fields, and the model
    version and confidence (None: the output was refused) that routed it."""

    fields: Fields
    model_version_id: ModelVersionId
    confidence: float | None


@dataclass(frozen=True)
class CaseFields(_Record):
    """A case's id and fields: what scoring it again needs."""

    id: CaseId
    fields: Fields


@dataclass(frozen=True)
class SealedEvent(RecordedEvent):
    """An audit event with its place in the chain: ``seq``, and the ``prev_hash`` and ``hash`` that link it (all
    None while it is not sealed yet; a case's record shows those events too)."""

    seq: int | None
    prev_hash: str | None
    hash: str | None


class ChainLink(NamedTuple):
    """One seal in chain order with the event it seals, as a check of the chain reads it (a tuple, not a dataclass:
    a million of them are made per million events checked). The event's columns are None if it was deleted; ``data``
    is ``DuplicateKeys`` if its stored JSON names a key twice."""

    seq: int
    event_id: int
    prev_hash: str
    seal_hash: str
    encoding: int
    sealed_at: datetime
    at: datetime | None
    actor: str | None
    action: str | None
    entity: str | None
    entity_id: str | None
    data: Any
    found_id: int | None
    body: bytes | None  # the canonical bytes the sealer hashed (None: not kept, see audit_seals.body)


class ChainCheck(NamedTuple):
    """A seal the database could not vouch for, with the hash and time of the seal numbered before it (None if
    there is no such seal)."""

    link: ChainLink
    before_hash: str | None
    before_sealed: datetime | None


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed Merkle checkpoint as written: the tree size, its root, the signed note, where it went, and when."""

    size: int
    root: bytes
    note: str
    url: str
    written_at: datetime


@dataclass(frozen=True)
class LabelConflict(_Record):
    """A recorded label conflict and, once resolved, the label that won, who chose it, when and why."""

    id: int
    flow: str
    case_id: CaseId
    kind: ConflictKind
    details: dict[str, Any]
    created_at: datetime
    resolved_label: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    reason: str | None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


@dataclass(frozen=True)
class FlowLoad(_Record):
    """The last recorded settings of a flow as its flow file was loaded."""

    flow: str
    seq: int
    digest: str
    policy_version: str
    document: dict[str, Any]
