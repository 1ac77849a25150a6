"""Records read from rows: by field type, whatever shape the driver gives (SQLite's time text, plain strings for
statuses); a column the row lacks keeps the field's default."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime, timedelta, timezone

from signoff.domain import DecidedBy, TaskKind, TaskStatus
from signoff.store.records import Decision, Task

TASK_COLUMNS = (
    "id case_id flow queue role priority status lease_token lease_owner lease_expires_at lease_ttl created_at "
    "completed_at kind due_at assignee now"
)


def test_a_named_query_row_becomes_a_task_with_enums_and_aware_utc_times() -> None:
    row = namedtuple("Row", TASK_COLUMNS)(
        7, 3, "credit", "default", "reviewer", 2, "leased", 1, 5, "2026-01-02 03:04:05.678000", 60.0,
        datetime(2026, 1, 2, 4, 0, tzinfo=timezone(timedelta(hours=1))), None, "gold", None, None, "ignored",
    )  # fmt: skip
    task = Task.from_row(row)
    assert (task.status, task.kind) == (TaskStatus.LEASED, TaskKind.GOLD)
    assert task.status is TaskStatus.LEASED and task.kind is TaskKind.GOLD
    assert task.lease_expires_at == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert task.created_at == datetime(2026, 1, 2, 3, 0, tzinfo=UTC) and task.created_at.tzinfo is UTC
    assert (task.completed_at, task.due_at, task.assignee, task.leases) == (None, None, None, ())


def test_a_decision_row_leaves_what_only_its_audit_event_holds_unset() -> None:
    row = namedtuple("Row", "case_id label decided_by model_version_id review_id created_at")(
        4, "bad", "default-action", None, None, "2026-01-02 03:04:05.000000"
    )
    decision = Decision.from_row(row)
    assert decision.decided_by is DecidedBy.DEFAULT_ACTION and decision.label == "bad"
    assert (decision.task_id, decision.queue, decision.escalation_exhausted) == (None, None, False)
