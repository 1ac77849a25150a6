"""The seed's KPIs on small windows worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from signoff.errors import InvalidInput
from signoff.metrics import kpis
from signoff.metrics.kpis import (
    Bin,
    SlaCompliance,
    Turnaround,
    cost_per_corrected,
    flag_rate,
    flag_rate_by_reason,
    sla_compliance,
    turnaround,
    turnaround_bins,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- flag rate ----------------------------------------------------------------------------------------------


def test_flag_rate_by_hand() -> None:
    assert flag_rate(30, 200) == pytest.approx(0.15)  # 30 / 200
    assert flag_rate(0, 5) == 0.0
    assert flag_rate(0, 0) is None  # an empty window has no rate


def test_flag_rate_by_reason_adds_up_to_the_flag_rate() -> None:
    # 200 cases; 30 flagged: 18 by the band, 9 by drift, 3 by a business rule
    reasons = ["band"] * 18 + ["drift"] * 9 + ["amount"] * 3
    by_reason = flag_rate_by_reason(reasons, 200)
    assert by_reason == {"band": 18 / 200, "drift": 9 / 200, "amount": 3 / 200}
    assert list(by_reason) == ["band", "drift", "amount"]  # most frequent first
    assert sum(by_reason.values()) == pytest.approx(flag_rate(30, 200))


def test_flag_rates_refuse_impossible_counts() -> None:
    with pytest.raises(InvalidInput):
        flag_rate(3, 2)
    with pytest.raises(InvalidInput):
        flag_rate(-1, 2)
    with pytest.raises(InvalidInput):
        flag_rate_by_reason(["band"] * 3, 2)
    assert flag_rate_by_reason([], 0) == {}


# --- turnaround ---------------------------------------------------------------------------------------------


def test_turnaround_by_hand() -> None:
    # durations 60, 120, 180, 240, 1800 s and one task still open
    created = [at(0), at(0), at(10), at(10), at(20), at(30)]
    completed = [at(1), at(2), at(13), at(14), at(50), None]
    # mean = (60+120+180+240+1800)/5 = 480; p50 = 180;
    # p95 (linear, type 7): rank 0.95*(5-1) = 3.8 -> 240 + 0.8*(1800-240) = 1488
    assert turnaround(created, completed) == Turnaround(n=5, open=1, mean=480.0, p50=180.0, p95=pytest.approx(1488.0))


def test_turnaround_bins_by_hand() -> None:
    # durations 0, 10, 100, 1000 s and one open task; 3 log bins from 1 s (a 0 s task counts in the first) to 1000 s:
    # edges 1, 10, 100, 1000 -> [1, 10): 0 s; [10, 100): 10 s; [100, 1000]: 100 and 1000 s
    created = [at(0)] * 5
    completed = [at(0), at(10 / 60), at(100 / 60), at(1000 / 60), None]
    assert turnaround_bins(created, completed, bins=3) == [
        Bin(1.0, pytest.approx(10.0), 1),
        Bin(pytest.approx(10.0), pytest.approx(100.0), 1),
        Bin(pytest.approx(100.0), 1000.0, 2),
    ]
    assert turnaround_bins([at(0), at(0)], [at(1), at(1)]) == [Bin(60.0, 60.0, 2)]  # all equal: one bin
    assert turnaround_bins([at(0)], [None]) == []
    with pytest.raises(InvalidInput):
        turnaround_bins([at(5)], [at(1)])


def test_turnaround_from_numpy_datetimes_matches() -> None:
    created = np.array(["2026-11-02T09:00", "2026-11-02T09:00", "2026-11-02T09:10"], dtype="datetime64[s]")
    completed = np.array(["2026-11-02T09:01", "NaT", "2026-11-02T09:13"], dtype="datetime64[s]")
    # 60 and 180 s: mean 120, p50 120, p95 = 60 + 0.95*120 = 174
    assert turnaround(created, completed) == Turnaround(n=2, open=1, mean=120.0, p50=120.0, p95=pytest.approx(174.0))


def test_turnaround_without_completed_tasks_is_none_and_bad_times_are_refused() -> None:
    assert turnaround([at(0)], [None]) is None
    assert turnaround([], []) is None
    with pytest.raises(InvalidInput):
        turnaround([at(5)], [at(1)])  # completed before created
    with pytest.raises(InvalidInput):
        turnaround([at(0)], [datetime(2026, 11, 2, 10, 0)])  # naive beside aware
    with pytest.raises(InvalidInput):
        turnaround([at(0), at(1)], [at(2)])
    with pytest.raises(InvalidInput):
        turnaround(np.array(["2026-11-02T09:00"], dtype="datetime64[s]"), [at(2)])


# --- SLA compliance -----------------------------------------------------------------------------------------


def test_sla_compliance_by_hand() -> None:
    now = at(120)
    due = [at(60), at(60), at(60), at(60), at(180), None, None]
    completed = [
        at(30),  # met
        at(60),  # met: exactly on time
        at(61),  # breached: a minute late
        None,  # breached: still open, due an hour ago
        None,  # pending: open, due in an hour
        at(10),  # no due time: excluded
        None,  # no due time: excluded
    ]
    # 2 met of 4 with a known result = 0.5
    assert sla_compliance(due, completed, now) == SlaCompliance(0.5, met=2, breached=2, pending=1, no_due=2)


def test_sla_compliance_with_nothing_decided_has_no_value() -> None:
    assert sla_compliance([at(60), None], [None, at(5)], at(0)) == SlaCompliance(None, 0, 0, 1, 1)
    with pytest.raises(InvalidInput):
        sla_compliance([at(60)], [], at(0))


# --- cost per corrected prediction --------------------------------------------------------------------------


def test_cost_per_corrected_prediction_by_hand() -> None:
    # 400 reviews at 2.50 and 10,000 cases at 0.01: (1000 + 100) / 55 corrected = 20.0
    assert cost_per_corrected(400 * 2.50, 10_000 * 0.01, 55) == pytest.approx(20.0)


def test_cost_per_corrected_prediction_is_none_when_nothing_was_corrected() -> None:
    assert cost_per_corrected(1000.0, 100.0, 0) is None
    for bad in ((-1.0, 0.0, 1), (1.0, float("nan"), 1), (1.0, float("inf"), 1), (1.0, 1.0, -1)):
        with pytest.raises(InvalidInput):
            cost_per_corrected(*bad)


def test_percentiles_from_order_statistics_are_numpys() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 20, 21, 101, 997):
        values = np.sort(rng.exponential(600, size=n))
        ranked = dict(enumerate(values.tolist()))
        for percent in (50, 95):
            assert kpis.percentile_ranked(n, ranked, percent) == np.percentile(values, percent)
        found = kpis.turnaround_ranked(n, 4, float(values.sum()), ranked)
        assert found is not None and (found.n, found.open) == (n, 4)
    with pytest.raises(InvalidInput, match="rank"):
        kpis.percentile_ranked(10, {0: 1.0}, 50)
