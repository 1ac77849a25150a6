"""Consensus: k independent, blind reviews by distinct people settle a case; disagreement goes to adjudication."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.queues import queued, reviewer
from signoff import review
from signoff.config import Project
from signoff.domain import Role
from signoff.store import cases as case_store
from signoff.store.database import Database


def _consensus(db: Database, tmp_path: Path, k: int = 2, agreement: str = "unanimous") -> Project:
    queues: dict[str, Any] = {
        "default": {"consensus": {"reviews": k, "agreement": agreement, "adjudicate_in": "senior"}},
        "senior": {"role": "admin"},
    }
    return queued(db, tmp_path, 1, queues=queues)


def _answer(db: Database, project: Project, name: str, label: str, role: Role = Role.REVIEWER) -> review.Outcome:
    person = reviewer(db, name, role)
    got = review.claim(db, person)
    assert got is not None, f"{name} got no task"
    return review.submit(db, project, person, got.task_id, got.token, label)


def _record(db: Database) -> dict[str, Any]:
    with db.transaction(write=False) as conn:
        found = case_store.case_record(conn, 1)
    assert found is not None
    return found


def test_two_agreeing_reviews_decide_by_consensus(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path)
    first = _answer(db, project, "alice", "bad")
    assert (first.label, first.decided_by) == (None, "pending")
    assert _record(db)["decision"] is None
    second = _answer(db, project, "bob", "bad")
    assert (second.label, second.decided_by) == ("bad", "consensus")
    assert _record(db)["decision"]["decided_by"] == "consensus"


def test_one_person_never_answers_twice_on_a_case(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path)
    alice = reviewer(db, "alice")
    first = review.claim(db, alice)
    assert first is not None
    assert review.claim(db, alice) is None  # the sibling task waits for someone else, even while alice holds one
    review.submit(db, project, alice, first.task_id, first.token, "good")
    assert review.claim(db, alice) is None  # and after she answered


def test_disagreement_goes_to_adjudication_and_the_adjudicator_decides(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path)
    _answer(db, project, "alice", "bad")
    disputed = _answer(db, project, "bob", "good")
    assert disputed.decided_by == "pending"
    tasks = _record(db)["tasks"]
    assert [t["kind"] for t in tasks] == ["review", "review", "adjudication"]
    assert (tasks[2]["queue"], tasks[2]["role"]) == ("senior", "admin")
    assert review.claim(db, reviewer(db, "carol")) is None  # reviewers cannot take the adjudication
    final = _answer(db, project, "lead", "good", Role.ADMIN)
    assert (final.label, final.decided_by) == ("good", "adjudication")


def test_a_majority_of_three_decides(db: Database, tmp_path: Path) -> None:
    project = _consensus(db, tmp_path, k=3, agreement="majority")
    _answer(db, project, "alice", "bad")
    _answer(db, project, "bob", "good")
    final = _answer(db, project, "carol", "bad")
    assert (final.label, final.decided_by) == ("bad", "consensus")
