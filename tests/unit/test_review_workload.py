"""Workload limits and gold pauses as pure functions, on times and counts worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signoff.config.flows import GoldSpec, Workload
from signoff.errors import LimitReached
from signoff.review.gold import pause_reason
from signoff.review.workload import check, lookback, rotation_due, streak_start

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _ago(*minutes: float) -> list[datetime]:
    return [NOW - timedelta(minutes=m) for m in minutes]


def test_a_streak_starts_after_the_last_break() -> None:
    # reviews 1, 5, 9 minutes ago, then a 20-minute gap (a break of >= 10 minutes), then 30 minutes ago
    assert streak_start(_ago(1, 5, 9, 29, 30), min_break=600) == NOW - timedelta(minutes=9)
    assert streak_start(_ago(1, 5, 9), min_break=600) == NOW - timedelta(minutes=9)
    assert streak_start([], min_break=600) is None


def test_continuous_work_past_the_limit_needs_a_break() -> None:
    limits = Workload(max_continuous=3600, min_break=600)
    times = _ago(*range(1, 62, 5))  # a review every 5 minutes for the last 61 minutes
    with pytest.raises(LimitReached, match="61 minutes without a break") as caught:
        check(limits, held=0, times=times, now=NOW)
    assert caught.value.retry_after == pytest.approx(540)  # the break ends 10 minutes after the last review
    check(limits, held=0, times=times[:-2], now=NOW)  # 51 minutes: fine
    check(limits, held=0, times=[t - timedelta(minutes=11) for t in times], now=NOW)  # already on a break


def test_the_hourly_limit_counts_a_sliding_hour() -> None:
    limits = Workload(max_per_hour=3)
    with pytest.raises(LimitReached, match="reviewed 3 tasks") as caught:
        check(limits, held=0, times=_ago(5, 10, 50), now=NOW)
    assert caught.value.retry_after == pytest.approx(600)  # the review of 50 minutes ago leaves the hour in 10
    check(limits, held=0, times=_ago(5, 10, 61), now=NOW)


def test_leases_held_are_capped() -> None:
    check(Workload(max_leases=2), held=1, times=[], now=NOW)
    with pytest.raises(LimitReached, match="hold 2 tasks"):
        check(Workload(max_leases=2), held=2, times=[], now=NOW)


def test_lookback_covers_each_limit() -> None:
    assert lookback(Workload()) == timedelta(0)
    assert lookback(Workload(max_per_hour=5)) == timedelta(hours=1)
    assert lookback(Workload(max_continuous=7200, min_break=600)) == timedelta(seconds=7800)


def test_rotation_is_due_after_a_run_in_one_queue() -> None:
    limits = Workload(rotate_after=3)
    assert rotation_due(limits, [("f", "a")] * 3) == ("f", "a")
    assert rotation_due(limits, [("f", "a"), ("f", "b"), ("f", "a")]) is None
    assert rotation_due(limits, [("f", "a")] * 2) is None
    assert rotation_due(Workload(), [("f", "a")] * 9) is None


def test_a_pause_needs_enough_answers_and_clear_evidence() -> None:
    spec = GoldSpec(rate=0.1, min_accuracy=0.9, min_answers=10)
    assert pause_reason(spec, 9, 0) is None  # too few answers to judge
    assert pause_reason(spec, 10, 8) is None  # 80%, but the interval reaches 94%: not clearly below
    reason = pause_reason(spec, 30, 20)  # 67%, interval up to 81%
    assert reason is not None and "20/30 = 67%" in reason and "up to 81%" in reason
