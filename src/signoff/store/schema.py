"""The one schema source. Alembic migrations must produce exactly this (tests check it on both databases)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# BigInteger on PostgreSQL, but INTEGER on SQLite so that it stays the rowid alias (autoincrement).
Id = BigInteger().with_variant(Integer(), "sqlite")
Document = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the Python side; ``timestamptz`` on PostgreSQL, ISO text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: object) -> datetime:
    """A stored time as an aware UTC datetime: SQLite's text (also what its own clock writes in named queries),
    or PostgreSQL's timestamptz."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None and len(value) > len("YYYY-MM-DD"):
            # SQLite's UTC text, parsed again with its offset: half what ``datetime.replace`` costs, and a claim
            # and a submit read several
            return datetime.fromisoformat(value + "+00:00")
        value = parsed
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _created() -> Column[datetime]:
    return Column("created_at", UtcDateTime(), nullable=False)


def _scored() -> list[Column[Any]]:
    """What a model version gave a case: its probabilities, top label and confidence, or the problem with them."""
    return [
        Column("probabilities", Document, nullable=True),
        Column("label", String(100), nullable=True),
        Column("confidence", Float, nullable=True),
        Column("problem", Text, nullable=True),
        _created(),
    ]


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    _created(),
    Column("skills", Document, nullable=True),  # a list of names; queues may require some
    # An Argon2id hash in PHC format (parameters and salt included); NULL: the user cannot log in to the web UI.
    Column("password_hash", String(200), nullable=True),
)

# The roles each user holds, flow by flow: ``flow`` is a flow's name, or "*" for every flow.
grants = Table(
    "grants",
    metadata,
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("flow", String(63), primary_key=True),
    Column("role", String(20), primary_key=True),
    _created(),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    _created(),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# Web UI sessions. Only a hash of the session id is stored, so a leaked table opens no session; the CSRF token
# is stored as is because pages must render it. Logging out sets revoked_at.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("session_hash", String(64), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    _created(),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# Failed web logins, counted per account name and per client address: they throttle further tries before any
# password is hashed, in every server process alike. One mutable row per name or address, pruned a day after its
# last failure, rather than one append-only audit event per anonymous try, which anyone could flood.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("scope", String(10), primary_key=True),  # "account" or "address"
    Column("subject", String(100), primary_key=True),  # the name tried, or the client address (an IPv6 /64)
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UtcDateTime(), nullable=False, index=True),
    Column("blocked_until", UtcDateTime(), nullable=True),  # no try is checked before this time
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("flow", String(63), nullable=False, index=True),
    Column("document", Document, nullable=False),
    _created(),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("flow", String(63), nullable=False),
    Column("version", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("uri", Text, nullable=False),
    Column("sha256", String(64), nullable=True),
    Column("labels", Document, nullable=False),
    _created(),
    # the registry (signoff.learning.registry): a version's place in its flow, lineage and held-out metrics
    Column("status", String(20), nullable=False),
    Column("parent_id", Id, ForeignKey("model_versions.id"), nullable=True),
    Column("training_set_id", Id, ForeignKey("training_sets.id"), nullable=True),
    Column("metrics", Document, nullable=True),
    Column("fingerprint", String(64), nullable=True),
    Column("created_by", String(200), nullable=True),
    Column("status_changed_at", UtcDateTime(), nullable=True),
    Column("status_changed_by", String(200), nullable=True),
    # a canary's share of cases and the field that keeps an entity's cases together (None: by case)
    Column("canary_share", Float, nullable=True),
    Column("canary_sticky_by", String(63), nullable=True),
    UniqueConstraint("flow", "version"),
    Index("ix_model_versions_flow_fingerprint", "flow", "fingerprint", unique=True),
    Index("ix_model_versions_flow_status", "flow", "status"),
)

# One retrain of a flow: queued, then running (its worker beats ``heartbeat_at`` and holds it with ``attempt``, a
# fencing token: a worker that finds the run taken over stops), then done or failed. ``step`` is the last step
# begun; a run whose heartbeat went stale is taken over and completed from what it recorded. At most one run of a
# flow is queued or running (the partial unique index): two workers never run the same retrain.
retrain_runs = Table(
    "retrain_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("flow", String(63), nullable=False),
    Column("status", String(20), nullable=False),
    Column("step", String(20), nullable=True),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("requested_by", String(200), nullable=False),
    _created(),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("training_set_id", Id, ForeignKey("training_sets.id"), nullable=True),
    Column("model_version_id", Id, ForeignKey("model_versions.id"), nullable=True),
    Column("error", Text, nullable=True),
    Column("warning", Text, nullable=True),  # e.g. MLflow could not be reached: the retrain itself still counts
    Column("mlflow_run_id", String(64), nullable=True),
    Index("ix_retrain_runs_flow", "flow", "id"),
    Index(
        "ix_retrain_runs_active",
        "flow",
        unique=True,
        postgresql_where=text("status IN ('queued', 'running')"),
        sqlite_where=text("status IN ('queued', 'running')"),
    ),
)

HELD = text("status = 'held'")

cases = Table(
    "cases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("flow", String(63), nullable=False),
    Column("external_id", String(200), nullable=True),
    Column("fields", Document, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("groups", Document, nullable=False),
    Column("status", String(20), nullable=False),
    _created(),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("submitted_by", String(200), nullable=True),  # four eyes: nobody reviews a case they submitted
    Column("traceparent", String(55), nullable=True),  # W3C trace context of the intake span: reviews join it
    Column("entity", String(200), nullable=True),  # whom the case is about (the flow's entity field)
    UniqueConstraint("flow", "external_id"),
    Index("ix_cases_flow_created", "flow", "created_at"),
    Index("ix_cases_flow_entity", "flow", "entity", "id"),
    Index("ix_cases_submitted_by", "submitted_by"),
    # cases held while their remote model was down (signoff.store.held): none at all most of the time
    Index("ix_cases_held", "flow", "id", postgresql_where=HELD, sqlite_where=HELD),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, index=True),
    Column("model_version_id", Id, ForeignKey("model_versions.id"), nullable=False),
    *_scored(),
)

# A model version's scores of a case recorded without effect: a shadow's of every case, the champion's of each case
# a canary routes, so that two versions are compared on the same cases. No route points here, so nothing that reads a
# case's predictions (the reviewer's view, escalation's default, re-scoring) ever takes one for a routing score.
shadow_predictions = Table(
    "shadow_predictions",
    metadata,
    Column("model_version_id", Id, ForeignKey("model_versions.id"), primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    *_scored(),
)

routes = Table(
    "routes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, index=True),
    Column("prediction_id", Id, ForeignKey("predictions.id"), nullable=False),
    Column("policy_version", String(64), ForeignKey("policy_versions.version"), nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("rule", String(63), nullable=True),
    Column("reason", Text, nullable=False),
    Column("queue", String(63), nullable=True),
    Column("priority", Integer, nullable=False),
    _created(),
    Column("role", String(20), nullable=True),
    Column("sla", Float, nullable=True),
    Column("inclusion_probability", Float, nullable=True),
)

OPEN_TASK = "status <> 'done'"  # the open-task indexes' condition, which a query states as written to use them
tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, index=True),
    Column("flow", String(63), nullable=False),
    Column("queue", String(63), nullable=False),
    Column("role", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("lease_token", Integer, nullable=False),
    Column("lease_owner", Id, ForeignKey("users.id"), nullable=True),
    Column("lease_expires_at", UtcDateTime(), nullable=True),
    Column("lease_ttl", Float, nullable=False),
    _created(),
    Column("completed_at", UtcDateTime(), nullable=True),
    Column("kind", String(20), nullable=False, server_default=text("'review'")),
    Column("due_at", UtcDateTime(), nullable=True),
    Column("assignee", Id, ForeignKey("users.id"), nullable=True),  # set by a lead: only this reviewer may claim it
    # Claims scan only open tasks in claim order: best priority, then earliest due (no due time last), then oldest.
    Index("ix_tasks_flow_created", "flow", "created_at"),  # the metrics' windows of review work
    Index("ix_tasks_flow_queue_completed", "flow", "queue", "completed_at"),  # the queue views (store/queues.py)
    Index(
        "ix_tasks_open",
        "flow",
        "queue",
        text("priority DESC"),
        text("(due_at IS NULL)"),
        "due_at",
        "id",
        postgresql_where=text(OPEN_TASK),
        sqlite_where=text(OPEN_TASK),
    ),
    Index(
        "ix_tasks_leased_owner",
        "lease_owner",
        "case_id",
        postgresql_where=text("status = 'leased'"),
        sqlite_where=text("status = 'leased'"),
    ),
    Index(
        "ix_tasks_open_any",
        text("priority DESC"),
        text("(due_at IS NULL)"),
        "due_at",
        "id",
        postgresql_where=text(OPEN_TASK),
        sqlite_where=text(OPEN_TASK),
    ),
)

leases = Table(
    "leases",
    metadata,
    Column("task_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Column("token", Integer, primary_key=True),
    Column("reviewer_id", Id, ForeignKey("users.id"), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("end_reason", String(20), nullable=True),
)

task_skips = Table(
    "task_skips",
    metadata,
    Column("task_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Column("reviewer_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("token", Integer, nullable=False),
    Column("unsure", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    _created(),
    Index("ix_task_skips_reviewer", "reviewer_id", "task_id"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("task_id", Id, ForeignKey("tasks.id"), nullable=False),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, index=True),
    Column("reviewer_id", Id, ForeignKey("users.id"), nullable=False),
    Column("lease_token", Integer, nullable=False),
    Column("label", String(100), nullable=False),
    Column("comment", Text, nullable=False),
    _created(),
    UniqueConstraint("task_id", "lease_token"),
    Index("ix_reviews_reviewer", "reviewer_id", "case_id"),
    Index("ix_reviews_reviewer_created", "reviewer_id", "created_at"),
    Index("ix_reviews_created", "created_at"),  # the metrics' windows of reviews
)

# A reviewer marked conflicted on a case is never offered its tasks.
conflicts = Table(
    "conflicts",
    metadata,
    Column("reviewer_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("marked_by", String(200), nullable=False),
    _created(),
)

# Gold cases: known answers, served to reviewers like any other task to measure their accuracy.
gold_answers = Table(
    "gold_answers",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("label", String(100), nullable=False),
    _created(),
)

# A reviewer paused for a queue (gold accuracy too low) until a lead lifts it.
reviewer_pauses = Table(
    "reviewer_pauses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reviewer_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("flow", String(63), nullable=False),
    Column("queue", String(63), nullable=False),
    Column("reason", Text, nullable=False),
    _created(),
    Column("lifted_at", UtcDateTime(), nullable=True),
    Column("lifted_by", String(200), nullable=True),
)

# Webhook delivery: sealed audit events are the outbox; each webhook keeps the seq through which its deliveries
# are logged, and who sends them now (a lease: next_attempt_at); each delivery keeps its id, events and attempts.
webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("logged_seq", BigInteger, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id header: the same on every attempt
    Column("webhook", String(63), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("events", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # pending, delivered, dead
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_webhook_deliveries_webhook_status", "webhook", "status", "first_seq"),
    Index("ix_webhook_deliveries_first_seq", "first_seq"),
)

NOT_MODEL = "decided_by <> 'model'"
decisions = Table(
    "decisions",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("label", String(100), nullable=False),
    Column("decided_by", String(20), nullable=False),
    Column("model_version_id", Id, ForeignKey("model_versions.id"), nullable=True),
    Column("review_id", Id, ForeignKey("reviews.id"), nullable=True),
    _created(),
    # The decisions not made by the model at intake (people's, escalation's default), by time: what the metrics
    # read beside their rollups, which reviewers bound, not every case.
    Index("ix_decisions_not_model", "created_at", postgresql_where=text(NOT_MODEL), sqlite_where=text(NOT_MODEL)),
)

# Ground truth that arrives after the decision (the loan defaulted): one label per case and source, so that
# sending the same outcome again is a replay and a different one for the same source a conflict.
outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("flow", String(63), nullable=False, index=True),
    Column("label", String(100), nullable=False),
    Column("source", String(63), nullable=False),
    Column("observed_at", UtcDateTime(), nullable=True),  # when it happened, if the source says
    _created(),  # when Signoff learned it: a training window takes it from then on
    Column("recorded_by", String(200), nullable=False),
    UniqueConstraint("case_id", "source"),
)

# Labels of one case that disagree (reviewers, a reviewer and gold, a decision and an outcome, two outcomes), or a
# label resting on a reviewer later paused for gold accuracy. One row per case and kind; ``details`` holds the
# evidence; until ``resolved_label`` is set the case is never trained on.
label_conflicts = Table(
    "label_conflicts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("flow", String(63), nullable=False, index=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("details", Document, nullable=False),
    _created(),
    Column("resolved_label", String(100), nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("reason", Text, nullable=True),
    UniqueConstraint("case_id", "kind"),
)

# A training set and its examples: the lineage of every model trained from it (which cases, which labels from
# which source, with which weight, for training or validation). ``holdout`` is the held-out share it was built
# with: the cases that share picks were left out. Examples are never changed: a new set is a new row.
training_sets = Table(
    "training_sets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("flow", String(63), nullable=False),
    Column("window_start", UtcDateTime(), nullable=False),  # the oldest case's time
    Column("window_end", UtcDateTime(), nullable=False),  # no label known after it was used
    Column("validation_start", UtcDateTime(), nullable=False),  # the first validation case's time
    Column("policy_version", String(64), nullable=True),
    Column("holdout", Float, nullable=False),
    Column("sha256", String(64), nullable=False),
    _created(),
    Column("created_by", String(200), nullable=False),
    Index("ix_training_sets_flow", "flow", "id"),
)

training_examples = Table(
    "training_examples",
    metadata,
    Column("training_set_id", Id, ForeignKey("training_sets.id"), primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True, index=True),
    Column("label", String(100), nullable=False),
    Column("source", String(20), nullable=False),  # a LabelSource
    Column("weight", Float, nullable=False),
    Column("part", String(10), nullable=False),  # "train" or "validation"
    Column("labelled_at", UtcDateTime(), nullable=False),
    Column("inclusion_probability", Float, nullable=True),
)

# Active learning: each automatically decided case offered to a reviewer with spare capacity, with the probability
# that the draw chose it (its label's weight is the inverse) and the margin the model gave it. One per case.
al_selections = Table(
    "al_selections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, unique=True),
    Column("flow", String(63), nullable=False, index=True),
    Column("task_id", Id, ForeignKey("tasks.id"), nullable=False),
    Column("probability", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("strategy", String(20), nullable=False),
    Column("pool_size", Integer, nullable=False),
    _created(),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(63), nullable=False),
    Column("entity", String(63), nullable=False),
    Column("entity_id", String(200), nullable=False),
    Column("data", Document, nullable=False),
    # The lead page reads the escalation sweep's latest events (``ESCALATION_ACTOR`` in store/audit.py).
    Index(
        "ix_audit_events_escalation",
        "id",
        postgresql_where=text("actor = 'escalation'"),
        sqlite_where=text("actor = 'escalation'"),
    ),
    Index("ix_audit_events_entity", "entity", "entity_id"),  # a case's own events, for its decision record
)

# The chain: the single sealer appends one row per event, in the order it sees events commit.
audit_seals = Table(
    "audit_seals",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=False),
    Column("event_id", Id, ForeignKey("audit_events.id"), nullable=False, unique=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("sealed_at", UtcDateTime(), nullable=False),
    Column("encoding", SmallInteger, nullable=False, server_default="1"),  # audit.chain's canonical encoding
    # The canonical bytes the hash covers, kept by the sealer so that a check of the chain hashes them as stored and
    # compares the event's columns with them in SQL, instead of decoding and re-encoding every event. NULL where
    # an event sealed before they were kept no longer matched its seal: checked from its columns alone.
    Column("body", LargeBinary, nullable=True),
)

# The Merkle tree over the sealed events (audit.merkle): the hash of every complete subtree, leaves at level 0, so
# that a proof reads O(log^2 n) rows. Derived from the seals' bytes and checked against the signed checkpoints, so
# an edit here can make a proof fail but never make a false one verify.
audit_tree = Table(
    "audit_tree",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

# The signed checkpoints written (audit.transparency): one per tree size, the note as written and where.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("url", String(1000), nullable=False),
    Column("written_at", UtcDateTime(), nullable=False),
)

# Rollups: what the metrics read instead of every case row. A cell sums the cases of one flow created in one hour
# that share a key (a verdict and rule, a feature's bin); ``scope`` names the drift reference whose bins the cells
# use. A mark says up to which case id a scope is folded: every case with an id at or below it is in the cells.
case_cells = Table(
    "case_cells",
    metadata,
    Column("flow", String(63), primary_key=True),
    Column("scope", String(80), primary_key=True),
    Column("hour", UtcDateTime(), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
)

rollup_marks = Table(
    "rollup_marks",
    metadata,
    Column("flow", String(63), primary_key=True),
    Column("scope", String(80), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# A drift reference that can no longer change (a flow's earliest window, once closed), kept as the bins and counts the
# metrics compare against, so that it is read from the cases once.
drift_references = Table(
    "drift_references",
    metadata,
    Column("flow", String(63), primary_key=True),
    Column("name", String(120), primary_key=True),
    Column("document", Document, nullable=False),
)

# Each change of a flow's settings as the flow file was loaded: one row per change (not per process start), numbered
# per flow; two processes loading the same change race for the same (flow, seq) and one of them gives way.
flow_loads = Table(
    "flow_loads",
    metadata,
    Column("flow", String(63), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("document", Document, nullable=False),
    _created(),
)

APPEND_ONLY = ("audit_events", "audit_seals")
