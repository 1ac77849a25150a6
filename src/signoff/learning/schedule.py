"""When a flow's retrain is due: pure functions of its schedule, the time and what happened since the last run."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from signoff.config.flows import RetrainSchedule

WEEKDAY = 0  # a weekly retrain runs on Mondays (ISO weekday 1), at the schedule's time


def last_slot(schedule: RetrainSchedule, now: datetime) -> datetime | None:
    """The latest scheduled time at or before ``now`` (UTC), or None for a schedule without ``every``."""
    if schedule.every is None:
        return None
    hour, minute = (int(part) for part in schedule.at.split(":"))
    now = now.astimezone(UTC)
    slot = datetime.combine(now.date(), time(hour, minute), tzinfo=UTC)
    if schedule.every == "weekly":
        slot -= timedelta(days=(now.weekday() - WEEKDAY) % 7)
    if slot > now:
        slot -= timedelta(days=1 if schedule.every == "nightly" else 7)
    return slot


def due(
    schedule: RetrainSchedule, *, now: datetime, last_requested: datetime | None, new_labels: int | None
) -> str | None:
    """Why a retrain is due now, or None. ``last_requested`` is when the flow's latest retrain run (of any outcome)
    was requested, None if it never was; ``new_labels`` counts the usable labels that arrived since (None when not
    counted). A scheduled time passed since the last run makes it due, so a worker that was down catches up once,
    not once per missed night; a flow never retrained is due at once. A failed run counts as a run: it is not
    retried before the next scheduled time or the next ``after_labels`` labels."""
    slot = last_slot(schedule, now)
    if slot is not None and (last_requested is None or last_requested < slot):
        return f"{schedule.every} at {schedule.at} UTC"
    if schedule.after_labels is not None and new_labels is not None and new_labels >= schedule.after_labels:
        return f"{new_labels} new labels (after_labels: {schedule.after_labels})"
    return None
