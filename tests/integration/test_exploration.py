"""Active learning on spare capacity: with nothing flagged, a claim may be offered an automatically decided case,
drawn with a recorded selection probability; its review never changes the model's decision."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from helpers.builders import make_project
from helpers.queues import reviewer, scored
from signoff import intake, review
from signoff.config import Project
from signoff.domain import LabelSource, Role
from signoff.errors import ConfigError
from signoff.intake import validate_case
from signoff.learning import active, labels
from signoff.store import cases as case_store
from signoff.store.database import Database
from signoff.store.schema import al_selections, audit_events, decisions, tasks

AUTO = [0.05, 0.1, 0.2, 0.25, 0.75, 0.8, 0.9, 0.95]  # outside the band 0.3-0.7: decided by the model alone


def _project(db: Database, tmp_path: Path, scores: list[float], **learning: Any) -> Project:
    return scored(db, tmp_path, scores, learning=learning)


def _selections(db: Database) -> list[Any]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(al_selections).order_by(al_selections.c.id)))


def _events(db: Database, action: str) -> list[dict[str, Any]]:
    with db.transaction(write=False) as conn:
        query = select(audit_events.c.data).where(audit_events.c.action == action).order_by(audit_events.c.id)
        return list(conn.execute(query).scalars())


def test_an_idle_claim_is_offered_an_automatic_decision_and_its_review_leaves_it_standing(
    db: Database, tmp_path: Path
) -> None:
    project = _project(db, tmp_path, AUTO, explore={})
    alice = reviewer(db, "alice")
    with db.transaction(write=False) as conn:
        before = {row.case_id: row.label for row in conn.execute(select(decisions))}
    assert len(before) == len(AUTO)

    got = review.claim(db, project, alice)
    assert got is not None and got.kind == "explore" and got.token == 1
    (selection,) = _selections(db)
    assert (selection.case_id, selection.task_id, selection.flow) == (got.case_id, got.task_id, "test-flow")
    assert 0 < selection.probability <= 1 and selection.strategy == "margin" and selection.pool_size == len(AUTO)
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, got.case_id)
        task = conn.execute(select(tasks).where(tasks.c.id == got.task_id)).one()
    assert record is not None
    score = record.fields["score"]
    assert selection.margin == pytest.approx(abs(1 - 2 * score))
    assert task.due_at is None  # nobody waits for it: no escalation may ever decide the case
    offered = _events(db, "exploration.offered")
    assert offered == [
        {
            "selection_id": selection.id,
            "task_id": got.task_id,
            "queue": "default",
            "probability": selection.probability,
            "margin": selection.margin,
            "strategy": "margin",
            "pool_size": len(AUTO),
        }
    ]

    model_label = before[got.case_id]
    other = "good" if model_label == "bad" else "bad"
    outcome = review.submit(db, project, alice, got.task_id, got.token, other, "I would not have")
    assert (outcome.label, outcome.decided_by, outcome.replayed) == (model_label, "model", False)
    again = review.submit(db, project, alice, got.task_id, got.token, other, "I would not have")
    assert (again.label, again.decided_by, again.replayed) == (model_label, "model", True)
    with db.transaction(write=False) as conn:
        after = {row.case_id: row.label for row in conn.execute(select(decisions))}
    assert after == before
    explored = _events(db, "case.explored")
    assert [(e["label"], e["model_label"], e["agrees"]) for e in explored] == [(other, model_label, False)]


def test_each_case_is_offered_once_and_the_pool_runs_dry(db: Database, tmp_path: Path) -> None:
    project = _project(db, tmp_path, AUTO, explore={"strategy": "random"})
    alice = reviewer(db, "alice")
    seen = []
    for n in range(len(AUTO)):
        got = review.claim(db, project, alice)
        assert got is not None and got.kind == "explore"
        seen.append(got.case_id)
        assert _selections(db)[-1].probability == pytest.approx(1 / (len(AUTO) - n))  # uniform over what is left
        review.submit(db, project, alice, got.task_id, got.token, "good")
    assert len(set(seen)) == len(AUTO)
    assert review.claim(db, project, alice) is None


def test_the_recorded_probability_is_the_draw_s(db: Database, tmp_path: Path) -> None:
    scores = [0.05, 0.25]  # margins 0.9 and 0.5
    project = _project(db, tmp_path, scores, explore={"temperature": 0.2, "epsilon": 0.3})
    got = review.claim(db, project, reviewer(db, "alice"))
    assert got is not None
    (selection,) = _selections(db)
    expected = active.inclusion_probabilities(np.array([0.9, 0.5]), 1, epsilon=0.3, temperature=0.2)
    by_margin = {0.9: expected[0], 0.5: expected[1]}
    assert selection.probability == pytest.approx(by_margin[round(selection.margin, 6)])


def test_flagged_work_comes_first(db: Database, tmp_path: Path) -> None:
    project = _project(db, tmp_path, [*AUTO, 0.5], explore={})
    alice = reviewer(db, "alice")
    first = review.claim(db, project, alice)
    assert first is not None and first.kind == "review"
    assert _selections(db) == []
    second = review.claim(db, project, alice)
    assert second is not None and second.kind == "explore"


@pytest.mark.parametrize("learning", [{}, {"explore": {"when_idle": False}}])
def test_with_explore_off_nothing_is_offered(db: Database, tmp_path: Path, learning: dict[str, Any]) -> None:
    project = _project(db, tmp_path, AUTO, **learning)
    assert review.claim(db, project, reviewer(db, "alice")) is None
    assert _selections(db) == [] and _events(db, "exploration.offered") == []


def test_only_the_named_queue_offers_and_a_bad_setting_names_where(db: Database, tmp_path: Path) -> None:
    queues = {"default": {"role": "reviewer"}, "senior": {"role": "lead"}}
    project = make_project(tmp_path, db.url, queues=queues, learning={"explore": {"queue": "senior"}})
    runtime = intake.prepare(db, project)["test-flow"]
    case, _ = validate_case(runtime.flow, "c0", {"score": 0.1, "group": "a"}, "cases[0]")
    assert case is not None
    intake.submit(db, runtime, [case], "tester")
    assert review.claim(db, project, reviewer(db, "alice")) is None  # a reviewer does not work "senior"
    got = review.claim(db, project, reviewer(db, "lea", Role.LEAD))
    assert got is not None and (got.kind, got.queue) == ("explore", "senior")
    with pytest.raises(ConfigError, match=r"learning\.explore offers in queue 'nowhere'"):
        make_project(tmp_path, db.url, learning={"explore": {"queue": "nowhere"}})
    with pytest.raises(ConfigError, match=r"flows\.test-flow\.learning\.explore\.epsilon"):
        make_project(tmp_path, db.url, learning={"explore": {"epsilon": 0}})


def test_reviewers_claiming_at_once_never_share_a_case(db: Database, tmp_path: Path) -> None:
    """Concurrent claims may draw the same case: the case's row lock lets one open its task, the others are offered
    nothing this time; every draw is recorded once."""
    project = _project(db, tmp_path, AUTO[:4], explore={"temperature": 1.0})
    people = [reviewer(db, f"r{i}") for i in range(8)]
    got: list[Any] = []
    failures: list[BaseException] = []
    start = threading.Barrier(len(people))

    def work(index: int) -> None:
        try:
            start.wait()
            while (claim := review.claim(db, project, people[index])) is not None:
                got.append(claim)
                review.submit(db, project, people[index], claim.task_id, claim.token, "good")
        except BaseException as error:  # noqa: BLE001  # reported below, in the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len({c.case_id for c in got}) == len(got) <= 4
    selections = _selections(db)
    assert sorted(s.case_id for s in selections) == sorted(c.case_id for c in got)
    with db.transaction(write=False) as conn:
        assert len(list(conn.execute(select(tasks.c.id)))) == len(got)


def test_an_exploration_review_is_a_training_label_weighted_by_its_selection(db: Database, tmp_path: Path) -> None:
    """The review of an explored case is the case's label, with the draw's selection probability: without it the
    label could not be weighted, and the cases the model was least sure of would count as the whole pool."""
    project = _project(db, tmp_path, AUTO, explore={})
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None and got.kind == "explore"
    with db.transaction(write=False) as conn:
        until = db.now(conn)
        assert labels.training_labels(conn, "test-flow", until=until) == []  # offered, not yet answered
    review.submit(db, project, alice, got.task_id, got.token, "bad", "")
    (selection,) = _selections(db)
    with db.transaction(write=False) as conn:
        found = labels.training_labels(conn, "test-flow", until=db.now(conn))
    assert [(lb.case_id, lb.label, lb.source, lb.inclusion_probability) for lb in found] == [
        (got.case_id, "bad", LabelSource.EXPLORATION, selection.probability)
    ]
