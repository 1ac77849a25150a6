"""Consensus: k independent, blind reviews by distinct people settle a case; disagreement goes to adjudication."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.queues import queued, reviewer
from signoff import review
from signoff.config import Project
from signoff.domain import DecidedBy, Role, TaskKind
from signoff.review import queues as review_queues
from signoff.review.queues import PairAgreement
from signoff.store import cases as case_store
from signoff.store.database import Database


def _consensus(db: Database, tmp_path: Path, k: int = 2, agreement: str = "unanimous", n: int = 1) -> Project:
    queues: dict[str, Any] = {
        "default": {"consensus": {"reviews": k, "agreement": agreement, "adjudicate_in": "senior"}},
        "senior": {"role": "admin"},
    }
    return queued(db, tmp_path, n, queues=queues)


def _answer(db: Database, project: Project, name: str, label: str, role: Role = Role.REVIEWER) -> review.ReviewResult:
    person = reviewer(db, name, role)
    got = review.claim(db, project, person)
    assert got is not None, f"{name} got no task"
    return review.submit(db, project, person, got.task_id, got.token, label)


def _record(db: Database) -> review.Case:
    with db.transaction(write=False) as conn:
        found = case_store.case_record(conn, 1)
    assert found is not None
    return found


def test_two_agreeing_reviews_decide_by_consensus(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path)
    first = _answer(db, project, "alice", "bad")
    assert (first.label, first.decided_by) == (None, None)  # the case awaits the other review
    assert _record(db).decision is None
    second = _answer(db, project, "bob", "bad")
    assert (second.label, second.decided_by) == ("bad", "consensus")
    decision = _record(db).decision
    assert decision is not None and decision.decided_by is DecidedBy.CONSENSUS


def test_one_person_never_answers_twice_on_a_case(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path)
    alice = reviewer(db, "alice")
    first = review.claim(db, project, alice)
    assert first is not None
    # the sibling task waits for someone else, even while alice holds one
    assert review.claim(db, project, alice) is None
    review.submit(db, project, alice, first.task_id, first.token, "good")
    assert review.claim(db, project, alice) is None  # and after she answered


def test_disagreement_goes_to_adjudication_and_the_adjudicator_decides(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path)
    _answer(db, project, "alice", "bad")
    disputed = _answer(db, project, "bob", "good")
    assert disputed.decided_by is None  # the case awaits adjudication
    tasks = _record(db).tasks
    assert [t.kind for t in tasks] == [TaskKind.REVIEW, TaskKind.REVIEW, TaskKind.ADJUDICATION]
    assert (tasks[2].queue, tasks[2].role) == ("senior", "admin")
    assert review.claim(db, project, reviewer(db, "carol")) is None  # reviewers cannot take the adjudication
    final = _answer(db, project, "lead", "good", Role.ADMIN)
    assert (final.label, final.decided_by) == ("good", "adjudication")


def test_a_majority_of_three_decides(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path, k=3, agreement="majority")
    _answer(db, project, "alice", "bad")
    _answer(db, project, "bob", "good")
    final = _answer(db, project, "carol", "bad")
    assert (final.label, final.decided_by) == ("bad", "consensus")


def test_agreement_figures_match_the_hand_computation(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path, k=2, n=4)
    answers = {"alice": ["bad", "bad", "good", "good"], "bob": ["bad", "good", "good", "good"]}
    for name, labels in answers.items():
        person = reviewer(db, name)
        for _ in labels:
            got = review.claim(db, project, person)
            assert got is not None
            review.submit(db, project, person, got.task_id, got.token, labels[got.case_id - 1])
    boss = reviewer(db, "boss", Role.ADMIN)
    adjudication = review.claim(db, project, boss)
    assert adjudication is not None and adjudication.kind == "adjudication" and adjudication.case_id == 2
    review.submit(db, project, boss, adjudication.task_id, adjudication.token, "good")
    found = review_queues.reviewers(db).agreement
    # Cohen: p_o = 3/4, p_e = .5 x .25 + .5 x .75 = .5, kappa = (.75 - .5) / (1 - .5) = .5
    assert found.pairs == [PairAgreement(("alice", "bob"), 4, pytest.approx(0.5))]
    # Fleiss: P-bar = (1 + 0 + 1 + 1) / 4 = .75, P_e = (3/8)^2 + (5/8)^2 = .53125, kappa = .21875 / .46875
    # Krippendorff: D_o = 2/8, D_e = 2 x 3 x 5 / (8 x 7), alpha = 1 - .25 / (30/56) = .5333
    (queue,) = found.queues
    assert queue.cases == 4
    assert queue.fleiss_kappa == pytest.approx(0.21875 / 0.46875)
    assert queue.krippendorff_alpha == pytest.approx(1 - 0.25 / (30 / 56))
    # against the decisions (bad, good, good, good): alice as bob above, bob always agrees
    by_name = {r.reviewer: r.kappa_with_decision for r in found.reviewers}
    assert by_name == {"alice": pytest.approx(0.5), "bob": pytest.approx(1.0)}
