"""The review floor's rules: skills and roles, lead assignment, four eyes, gold tasks and pauses, workload limits
and queue rotation. Each test fails if its rule is broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from helpers.queues import queued, reviewer
from signoff import intake, review, users
from signoff.config import Project
from signoff.config.flows import Workload
from signoff.domain import CaseStatus, Role, TaskId
from signoff.errors import InvalidInput, LimitReached, NotFound
from signoff.review import leads
from signoff.store import reviewers as people
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases, decisions, reviewer_pauses, tasks


def _limits(project: Project, **limits: Any) -> Project:
    return project.model_copy(update={"workload": Workload(**limits)})


def _actions(db: Database) -> list[str]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(audit_events.c.action).order_by(audit_events.c.id)).scalars())


def test_a_queue_needing_skills_is_offered_only_to_reviewers_who_have_them(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1, queues={"default": {"skills": ["fraud", "spanish"]}})
    alice, lena = reviewer(db, "alice"), reviewer(db, "lena", Role.LEAD)
    leads.set_skills(db, lena, "alice", ["fraud"])
    assert review.claim(db, project, alice) is None  # spanish is missing
    assert leads.set_skills(db, lena, "alice", ["spanish", "fraud", "fraud"]) == ["fraud", "spanish"]
    got = review.claim(db, project, alice)
    assert got is not None and got.task_id == 1
    assert "user.skills_set" in _actions(db)


def test_a_lead_takes_reviewer_and_lead_tasks_and_a_reviewer_only_reviewer_tasks(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 2, queues={"default": {}, "senior": {"role": "lead"}})
    with db.transaction() as conn:
        conn.execute(tasks.update().where(tasks.c.id == 2).values(queue="senior", role="lead", priority=5))
    alice, lena = reviewer(db, "alice"), reviewer(db, "lena", Role.LEAD)
    mine = review.claim(db, project, alice)
    assert mine is not None and mine.task_id == 1
    theirs = review.claim(db, project, lena)
    assert theirs is not None and theirs.task_id == 2


def test_an_assigned_task_goes_only_to_its_reviewer(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 2)
    alice, bob, lena = reviewer(db, "alice"), reviewer(db, "bob"), reviewer(db, "lena", Role.LEAD)
    with db.transaction() as conn:
        conn.execute(tasks.update().where(tasks.c.id == 1).values(priority=9))
    leads.assign(db, project, lena, 1, "bob")
    got = review.claim(db, project, alice)
    assert got is not None and got.task_id == 2  # the more urgent task 1 is bob's
    assert review.claim(db, project, alice) is None
    bobs = review.claim(db, project, bob)
    assert bobs is not None and bobs.task_id == 1
    assert "task.assigned" in _actions(db)


def test_assignment_refuses_a_reviewer_who_may_not_take_the_task(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1, queues={"default": {"skills": ["fraud"]}})
    lena = reviewer(db, "lena", Role.LEAD)
    reviewer(db, "alice")
    reviewer(db, "audra", Role.AUDITOR)
    with pytest.raises(InvalidInput, match="cannot go to alice") as caught:
        leads.assign(db, project, lena, 1, "alice")
    assert "lacks the queue's skills ['fraud']" in str(caught.value.problems)
    with pytest.raises(InvalidInput, match="cannot go to audra"):
        leads.assign(db, project, lena, 1, "audra")
    with db.transaction(write=False) as conn:
        assert conn.execute(select(tasks.c.assignee)).scalar_one() is None


def test_nobody_reviews_a_case_they_submitted(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)  # submitted by "tester"
    tester, alice = reviewer(db, "tester"), reviewer(db, "alice")
    assert review.claim(db, project, tester) is None
    got = review.claim(db, project, alice)
    assert got is not None and got.task_id == 1


def test_a_reviewer_marked_conflicted_on_a_case_is_never_offered_it(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 2)
    alice, lena = reviewer(db, "alice"), reviewer(db, "lena", Role.LEAD)
    leads.assign(db, project, lena, 1, "alice")  # reserved for her, then found conflicted: freed again
    leads.mark_conflict(db, lena, "alice", 1, "the applicant is her neighbour")
    leads.mark_conflict(db, lena, "alice", 1, "said twice: recorded once")
    got = review.claim(db, project, alice)
    assert got is not None and got.case_id == 2
    assert review.claim(db, project, alice) is None
    assert _actions(db).count("reviewer.conflicted") == 1
    with db.transaction(write=False) as conn:
        assert conn.execute(select(tasks.c.assignee).where(tasks.c.case_id == 1)).scalar_one() is None
    with pytest.raises(InvalidInput, match="cannot go to alice"):
        leads.assign(db, project, lena, 1, "alice")


def _gold_project(db: Database, tmp_path: Path, n_gold: int = 6) -> Project:
    gold = {"rate": 1.0, "min_accuracy": 0.9, "min_answers": 3}
    project = queued(db, tmp_path, 3, queues={"default": {"gold": gold}})
    runtime = intake.prepare(db, project)["test-flow"]
    found = [intake.validate_case(runtime.flow, None, {"score": 0.9, "group": "b"}, "gold") for _ in range(n_gold)]
    assert intake.add_gold(db, runtime, [c for c, _ in found if c is not None], ["bad"] * n_gold, "lena") == n_gold
    return project


def test_gold_tasks_look_like_reviews_and_never_decide_their_case(db: Database, tmp_path: Path) -> None:
    project = _gold_project(db, tmp_path)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None and got.kind == "gold" and got.case_id > 3  # rate 1: a gold case
    assert review.shown_kind(got.kind) == "review"
    seen = review.claimed_case(db, alice, got)
    assert seen.status == "in_review" and [t.kind for t in seen.tasks] == ["review"]
    assert seen.predictions and seen.routes  # scored and routed like any case
    outcome = review.submit(db, project, alice, got.task_id, got.token, "bad")
    assert (outcome.label, outcome.decided_by) == ("bad", "reviewer")
    with db.transaction(write=False) as conn:
        assert conn.execute(select(cases.c.status).where(cases.c.id == got.case_id)).scalar_one() == "gold"
        assert conn.execute(select(decisions).where(decisions.c.case_id == got.case_id)).first() is None
        assert people.gold_record(conn, alice.id, "test-flow", "default") == (1, 1)
    assert _actions(db)[-1] == "gold.answered"


def test_a_reviewer_clearly_below_the_gold_bar_is_paused_for_the_queue_until_a_lead_lifts_it(
    db: Database, tmp_path: Path
) -> None:
    project = _gold_project(db, tmp_path)
    alice, bob, lena = reviewer(db, "alice"), reviewer(db, "bob"), reviewer(db, "lena", Role.LEAD)
    for _ in range(3):  # bob is right every time: never paused
        got = review.claim(db, project, bob)
        assert got is not None and got.kind == "gold"
        review.submit(db, project, bob, got.task_id, got.token, "bad")
    for answered in range(1, 4):
        got = review.claim(db, project, alice)
        assert got is not None and got.kind == "gold", f"claim {answered}"
        review.submit(db, project, alice, got.task_id, got.token, "good")  # wrong
    # 0 of 3: the 95% Wilson interval reaches only 56%, below the 90% bar
    with db.transaction(write=False) as conn:
        paused = conn.execute(select(reviewer_pauses.c.reviewer_id, reviewer_pauses.c.reason)).all()
    assert [p.reviewer_id for p in paused] == [alice.id]
    assert "0/3" in paused[0].reason and "below the queue's 90%" in paused[0].reason
    assert review.claim(db, project, alice) is None  # real work waits, but not for her
    assert "reviewer.paused" in _actions(db)
    leads.lift_pause(db, lena, "alice", "test-flow", "default")
    assert review.claim(db, project, alice) is not None
    assert "reviewer.unpaused" in _actions(db)


def test_gold_is_not_served_when_the_queue_has_no_real_work(db: Database, tmp_path: Path) -> None:
    project = _gold_project(db, tmp_path)
    with db.transaction() as conn:
        conn.execute(tasks.update().values(status="done"))
    assert review.claim(db, project, reviewer(db, "alice")) is None


def test_no_reviewer_holds_more_leases_than_the_cap(db: Database, tmp_path: Path) -> None:
    project = _limits(queued(db, tmp_path, 3), max_leases=1)
    alice = reviewer(db, "alice")
    first = review.claim(db, project, alice)
    assert first is not None
    with pytest.raises(LimitReached, match=r"you hold 1 tasks \(the limit is 1\)"):
        review.claim(db, project, alice)
    review.release(db, alice, first.task_id, first.token)
    assert review.claim(db, project, alice) is not None


def test_a_reviewer_stops_at_the_hourly_limit(db: Database, tmp_path: Path) -> None:
    project = _limits(queued(db, tmp_path, 3), max_per_hour=2)
    alice = reviewer(db, "alice")
    for _ in range(2):
        got = review.claim(db, project, alice)
        assert got is not None
        review.submit(db, project, alice, got.task_id, got.token, "good")
    with pytest.raises(LimitReached, match="reviewed 2 tasks in the last hour") as caught:
        review.claim(db, project, alice)
    assert caught.value.retry_after is not None and 3500 < caught.value.retry_after <= 3600
    assert review.claim(db, project, reviewer(db, "bob")) is not None  # a per-person limit


def test_after_a_run_in_one_queue_another_queue_with_work_goes_first(db: Database, tmp_path: Path) -> None:
    project = _limits(queued(db, tmp_path, 4, queues={"default": {}, "other": {}}), rotate_after=2)
    with db.transaction() as conn:
        conn.execute(tasks.update().where(tasks.c.id == 4).values(queue="other", priority=-1))
    alice = reviewer(db, "alice")
    order = []
    for _ in range(4):
        got = review.claim(db, project, alice)
        assert got is not None
        order.append((got.task_id, got.queue))
        review.submit(db, project, alice, got.task_id, got.token, "good")
    # two in default, then the low-priority task of the other queue, then back
    assert order == [(TaskId(1), "default"), (TaskId(2), "default"), (TaskId(4), "other"), (TaskId(3), "default")]


def test_gold_cases_are_recorded_with_their_answer(db: Database, tmp_path: Path) -> None:
    _gold_project(db, tmp_path, n_gold=2)
    with db.transaction(write=False) as conn:
        statuses = conn.execute(select(cases.c.status, cases.c.submitted_by).where(cases.c.id > 3)).all()
    assert statuses == [(CaseStatus.GOLD.value, "lena")] * 2
    assert _actions(db).count("case.gold_added") == 2


def test_revoking_a_role_hands_back_the_work_it_allowed(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 2)
    alice = users.create_user(db, "alice", Role.REVIEWER, "tester", ["test-flow"])[0]
    users.grant(db, "alice", Role.LEAD, ["other-flow"], "tester")
    got = review.claim(db, project, alice)
    assert got is not None
    leads.assign(db, project, users.operator("tester"), 2, "alice")
    alice = users.revoke(db, "alice", Role.REVIEWER, ["test-flow"], "tester")
    assert alice.describe() == "lead on other-flow"
    with pytest.raises(NotFound):  # released, and a task of a flow she may not review does not exist for her
        review.submit(db, project, alice, got.task_id, got.token, "good")
    with db.transaction(write=False) as conn:
        rows = conn.execute(select(tasks.c.status, tasks.c.assignee).order_by(tasks.c.id)).all()
    assert [(r.status, r.assignee) for r in rows] == [("queued", None), ("queued", None)]
    assert _actions(db)[-1] == "user.revoked"
