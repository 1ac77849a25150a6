"""The pure rules of a training set: the held-out hash, the time split and the weights."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from helpers.builders import make_flow
from signoff.domain import CaseId, LabelSource
from signoff.learning.datasets import held_out, split, weight
from signoff.learning.records import Label

START = datetime(2026, 3, 1, tzinfo=UTC)


def label(
    case_id: int,
    hour: float = 0,
    *,
    labelled_hour: float | None = None,
    source: LabelSource = LabelSource.REVIEW,
    p: float | None = None,
    value: str = "good",
) -> Label:
    created = START + timedelta(hours=hour)
    labelled = created + timedelta(hours=1) if labelled_hour is None else START + timedelta(hours=labelled_hour)
    return Label(CaseId(case_id), value, source, labelled, created, p)


def test_held_out_is_the_published_sha256_of_flow_and_case_id() -> None:
    # sha256("credit:42"), as `printf 'credit:42' | sha256sum` prints it: its first 8 bytes over 2**64 = 0.56875...
    assert hashlib.sha256(b"credit:42").hexdigest() == (
        "9199e9398a559ec54c50d6d992284a3b2ca99164415553fd4eea644ed5f76ec0"
    )
    position = 0x9199E9398A559EC5 / 2**64
    assert held_out("credit", 42, position + 1e-9)
    assert not held_out("credit", 42, position - 1e-9)
    assert not held_out("credit", 42, 0.5) and held_out("credit", 42, 0.6)
    assert held_out("credit", 7, 0.31) and not held_out("credit", 7, 0.30)  # 0.30264 for "credit:7"
    assert held_out("credit", 42, 0.6) and not held_out("credit2", 42, 0.6)  # another flow draws anew (0.822)


def test_held_out_takes_the_share_asked_and_grows_with_it() -> None:
    ids = range(1, 20_001)
    at_10 = {i for i in ids if held_out("f", i, 0.1)}
    at_20 = {i for i in ids if held_out("f", i, 0.2)}
    assert abs(len(at_10) / 20_000 - 0.1) < 0.01 and abs(len(at_20) / 20_000 - 0.2) < 0.01
    assert at_10 < at_20  # raising the share only adds cases


def test_audit_and_exploration_labels_weigh_the_inverse_of_their_probability() -> None:
    assert weight(label(1, source=LabelSource.AUDIT, p=0.02)) == pytest.approx(50)
    assert weight(label(1, source=LabelSource.EXPLORATION, p=0.25)) == 4
    assert weight(label(1, source=LabelSource.REVIEW)) == 1
    assert weight(label(1, source=LabelSource.OUTCOME)) == 1
    assert weight(label(1, source=LabelSource.AUDIT)) == 1  # no probability known: counted once


def test_split_trains_on_the_past_and_validates_on_the_latest_share() -> None:
    flow = make_flow(learning={"holdout": 0.01, "validation": 0.25, "min_labels": 4})
    ids = [i for i in range(1, 60) if not held_out(flow.name, i, 0.01)][:8]
    labels = [label(case_id, hour=8 - n) for n, case_id in enumerate(ids)]  # the lowest id is the newest case
    parts = split(flow, labels, START + timedelta(days=1))
    assert [x.case_id for x in parts.validation] == [ids[1], ids[0]]  # 8 x 0.25: the two newest
    assert [x.case_id for x in parts.train] == list(reversed(ids[2:]))
    assert max(x.case_created_at for x in parts.train) <= min(x.case_created_at for x in parts.validation)
    assert (parts.held_out, parts.too_new) == (0, 0)


def test_split_breaks_ties_in_case_time_by_case_id() -> None:
    flow = make_flow(learning={"holdout": 0.01, "validation": 0.4, "min_labels": 2})
    ids = [i for i in range(1, 60) if not held_out(flow.name, i, 0.01)][:5]
    parts = split(flow, [label(i, hour=0) for i in reversed(ids)], START + timedelta(days=1))
    assert [x.case_id for x in (*parts.train, *parts.validation)] == ids
    assert len(parts.validation) == 2


def test_split_leaves_out_held_out_cases_and_labels_newer_than_its_end() -> None:
    flow = make_flow(learning={"holdout": 0.3, "validation": 0.2, "min_labels": 2})
    until = START + timedelta(hours=10)
    hidden = [i for i in range(1, 100) if held_out(flow.name, i, 0.3)][:3]
    shown = [i for i in range(1, 100) if not held_out(flow.name, i, 0.3)][:9]
    labels = [label(i, hour=1) for i in hidden] + [label(i, hour=n) for n, i in enumerate(shown[:6])]
    labels.append(label(shown[6], hour=2, labelled_hour=10))  # known exactly at the end: kept
    labels.append(label(shown[7], hour=2, labelled_hour=10.5))  # labelled after the end
    labels.append(label(shown[8], hour=11, labelled_hour=9))  # a case newer than the end (a bad label time)
    parts = split(flow, labels, until)
    used = {x.case_id for x in (*parts.train, *parts.validation)}
    assert used == {*shown[:7]}
    assert (parts.held_out, parts.too_new) == (3, 2)


def test_split_gives_nothing_below_the_minimum_of_labels() -> None:
    flow = make_flow(learning={"holdout": 0.01, "validation": 0.2, "min_labels": 5})
    ids = [i for i in range(1, 60) if not held_out(flow.name, i, 0.01)][:5]
    assert split(flow, [label(i) for i in ids[:4]], START + timedelta(days=1)).train == ()
    parts = split(flow, [label(i) for i in ids], START + timedelta(days=1))
    assert (len(parts.train), len(parts.validation)) == (4, 1)
