"""When a retrain is due: nightly and weekly times, catching up once after downtime, and new labels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from signoff.config.flows import RetrainSchedule
from signoff.learning.schedule import due, last_slot


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NIGHTLY = RetrainSchedule(every="nightly", at="02:30")
WEEKLY = RetrainSchedule(every="weekly", at="06:00")  # Mondays; 2026-12-07 is a Monday


@pytest.mark.parametrize(
    ("schedule", "now", "slot"),
    [
        (NIGHTLY, "2026-12-06 02:30:00", "2026-12-06 02:30:00"),
        (NIGHTLY, "2026-12-06 02:29:59", "2026-12-05 02:30:00"),
        (NIGHTLY, "2026-12-06 23:00:00", "2026-12-06 02:30:00"),
        (NIGHTLY, "2026-01-01 00:00:00", "2025-12-31 02:30:00"),
        (WEEKLY, "2026-12-07 06:00:00", "2026-12-07 06:00:00"),
        (WEEKLY, "2026-12-07 05:59:00", "2026-11-30 06:00:00"),
        (WEEKLY, "2026-12-13 23:59:00", "2026-12-07 06:00:00"),
        (WEEKLY, "2026-12-06 12:00:00", "2026-11-30 06:00:00"),
    ],
)
def test_the_last_scheduled_time(schedule: RetrainSchedule, now: str, slot: str) -> None:
    assert last_slot(schedule, at(now)) == at(slot)


def test_a_schedule_without_every_has_no_time() -> None:
    assert last_slot(RetrainSchedule(after_labels=5), at("2026-12-06 12:00:00")) is None


def test_nightly_is_due_once_a_night_and_catches_up_once_after_downtime() -> None:
    now = at("2026-12-06 03:00:00")
    assert due(NIGHTLY, now=now, last_requested=None, new_labels=None) == "nightly at 02:30 UTC"
    assert due(NIGHTLY, now=now, last_requested=at("2026-12-05 02:30:01"), new_labels=None) is not None
    assert due(NIGHTLY, now=now, last_requested=at("2026-12-06 02:30:00"), new_labels=None) is None
    assert due(NIGHTLY, now=at("2026-12-06 02:29:00"), last_requested=at("2026-12-05 02:31:00"), new_labels=0) is None
    # down for three nights: one retrain, not three
    assert due(NIGHTLY, now=now, last_requested=at("2026-12-02 02:31:00"), new_labels=None) is not None
    assert due(NIGHTLY, now=now, last_requested=at("2026-12-06 02:59:00"), new_labels=None) is None


def test_weekly_waits_for_monday() -> None:
    last = at("2026-11-30 06:00:05")
    assert due(WEEKLY, now=at("2026-12-06 23:59:00"), last_requested=last, new_labels=None) is None
    assert due(WEEKLY, now=at("2026-12-07 06:00:00"), last_requested=last, new_labels=None) == "weekly at 06:00 UTC"


def test_after_labels_is_due_at_the_threshold() -> None:
    plan = RetrainSchedule(after_labels=100)
    now = at("2026-12-06 12:00:00")
    assert due(plan, now=now, last_requested=at("2026-12-06 11:00:00"), new_labels=99) is None
    assert due(plan, now=now, last_requested=at("2026-12-06 11:00:00"), new_labels=100) == (
        "100 new labels (after_labels: 100)"
    )
    assert due(plan, now=now, last_requested=None, new_labels=None) is None  # not counted: not due


def test_whichever_comes_first() -> None:
    plan = RetrainSchedule(every="nightly", at="02:30", after_labels=10)
    last = at("2026-12-06 02:30:00")
    assert due(plan, now=at("2026-12-06 09:00:00"), last_requested=last, new_labels=12) is not None
    assert due(plan, now=at("2026-12-06 09:00:00"), last_requested=last, new_labels=3) is None
    assert due(plan, now=at("2026-12-07 02:30:00"), last_requested=last, new_labels=3) is not None
