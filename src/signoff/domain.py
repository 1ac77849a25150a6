"""The vocabulary shared by every layer: ids, statuses and the records that cross layer boundaries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NewType

from annotated_types import Ge, Le

CaseId = NewType("CaseId", int)
TaskId = NewType("TaskId", int)
UserId = NewType("UserId", int)
ModelVersionId = NewType("ModelVersionId", int)

MAX_ID = 2**63 - 1  # BIGINT, the widest integer column: no stored id or cursor is larger
MAX_LEASE_TOKEN = 2**31 - 1  # INTEGER: a lease token counts the leases of one task
Id = Annotated[int, Ge(1), Le(MAX_ID)]
"""An id as the edges take it: a number the database can hold, so that a larger one is refused (422), not a 500."""
LeaseToken = Annotated[int, Ge(1), Le(MAX_LEASE_TOKEN)]
"""A fencing token as the edges take it."""
Fields = dict[str, Any]
"""A case's field values (or group attributes) by name: JSON values whose types the flow's schema declares, so
they are checked when a case is validated, at run time, not by mypy."""


class Role(StrEnum):
    """What a user may do. ``intake`` is for services that submit cases and read decisions; a ``lead`` runs
    the review floor (reviews, adjudicates, assigns); an ``owner`` is the model owner (flows, models, metrics)."""

    ADMIN = "admin"
    INTAKE = "intake"
    REVIEWER = "reviewer"
    LEAD = "lead"
    OWNER = "owner"
    AUDITOR = "auditor"


class Verdict(StrEnum):
    """The policy's verdict: decided by the model, sent to review, or decided and also drawn for audit."""

    AUTO = "auto"
    REVIEW = "review"
    AUDIT = "audit"


class TaskKind(StrEnum):
    """A review decides the case (alone, or with others by consensus); an adjudication settles reviewers who
    disagreed; an audit checks a decision the model already made; a gold task measures the reviewer on a case
    whose answer is known (reviewers see it as a review); an exploration asks a reviewer with spare capacity to
    label a case the model decided alone, drawn by active learning (like an audit, it never changes the decision)."""

    REVIEW = "review"
    AUDIT = "audit"
    ADJUDICATION = "adjudication"
    GOLD = "gold"
    EXPLORE = "explore"


class CaseStatus(StrEnum):
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    GOLD = "gold"  # a case with a known answer, kept to measure reviewers; never decided
    HELD = "held"  # its remote model was down: no task and no decision until it is scored (signoff.intake.held)


class TaskStatus(StrEnum):
    QUEUED = "queued"
    LEASED = "leased"
    DONE = "done"


class LeaseEnd(StrEnum):
    SUBMITTED = "submitted"
    RELEASED = "released"
    SKIPPED = "skipped"
    EXPIRED = "expired"


class DecidedBy(StrEnum):
    MODEL = "model"
    REVIEWER = "reviewer"
    CONSENSUS = "consensus"
    ADJUDICATION = "adjudication"
    DEFAULT_ACTION = "default-action"


class ModelStatus(StrEnum):
    """Where a model version stands: trained and registered (candidate), scoring live traffic without effect
    (shadow), routing a share of cases (canary), routing every case (champion), or no longer used (retired)."""

    CANDIDATE = "candidate"
    SHADOW = "shadow"
    CANARY = "canary"
    CHAMPION = "champion"
    RETIRED = "retired"


class LabelSource(StrEnum):
    """Where a training label comes from: a reviewer's decision on a flagged case, several reviewers agreeing, a
    lead's adjudication, a review of the random audit sample, the ground truth that arrived later, the resolution
    of a label conflict, or a review of an automatically decided case offered to a reviewer with spare capacity
    (active learning; weighted by its selection probability, like the audit sample by its inclusion probability)."""

    REVIEW = "review"
    CONSENSUS = "consensus"
    ADJUDICATION = "adjudication"
    AUDIT = "audit"
    OUTCOME = "outcome"
    RESOLUTION = "resolution"
    EXPLORATION = "exploration"


class ConflictKind(StrEnum):
    """What disagrees. ``reviewers``: the answers a decided case's label rests on (consensus copies, audit
    reviews) differ, and no adjudication settled them; ``gold``: answers on a gold case differ from its known
    answer; ``outcome``: the human label differs from an outcome; ``outcomes``: outcomes from different sources
    differ; ``paused``: the label rests on an answer given before its reviewer was paused for gold accuracy."""

    REVIEWERS = "reviewers"
    GOLD = "gold"
    OUTCOME = "outcome"
    OUTCOMES = "outcomes"
    PAUSED = "paused"


ANY_FLOW = "*"  # a grant on every flow, those of today and those added later

# Broadest first: the role a user is greeted with and lands by, when they hold several.
_BREADTH = (Role.ADMIN, Role.LEAD, Role.AUDITOR, Role.OWNER, Role.REVIEWER, Role.INTAKE)


@dataclass(frozen=True)
class Grant:
    """A role held on one flow, or on every flow (``ANY_FLOW``)."""

    flow: str
    role: Role


@dataclass(frozen=True)
class User:
    """A person or service and the roles they hold, flow by flow (at least one grant)."""

    id: UserId
    name: str
    grants: tuple[Grant, ...]

    def roles(self, flow: str | None = None) -> frozenset[Role]:
        """The roles held on ``flow`` (its own grants and those on every flow); with None, anywhere."""
        return frozenset(g.role for g in self.grants if flow is None or g.flow in (flow, ANY_FLOW))

    @property
    def role(self) -> Role:
        """The broadest role held anywhere: what the pages show beside the name, and where a login lands."""
        held = self.roles()
        return next((r for r in _BREADTH if r in held), Role.INTAKE)

    def describe(self) -> str:
        """The grants in words, e.g. ``lead on credit, reviewer on *``."""
        return ", ".join(f"{g.role.value} on {g.flow}" for g in self.grants)


@dataclass(frozen=True)
class Lease:
    """A reviewer's time-limited claim on a task; ``token`` fences out every older holder."""

    task_id: TaskId
    token: int
    reviewer_id: UserId
    expires_at: datetime


@dataclass(frozen=True)
class AuditEvent:
    """An append-only record of one state change."""

    actor: str
    action: str
    entity: str
    entity_id: str
    data: dict[str, Any]


def hash_point(key: bytes) -> int:
    """The first 8 bytes of SHA-256 of ``key``, big-endian, in [0, 2**64): where a key falls in a stable share (the
    held-out set, a canary's cases), the same in every process and release."""
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def content_hash(document: object) -> str:
    """SHA-256 of ``document`` as canonical JSON (sorted keys, compact, ASCII): what names content by what it holds,
    a policy version, a training set, a model's fingerprint. Changing it would rename everything already stored."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
