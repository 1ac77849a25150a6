"""Leases: claim, heartbeat, submit, release and expiry, fenced by token, owner and the database clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers.queues import age_lease, queued, reviewer
from signoff import review
from signoff.domain import Role, TaskId
from signoff.errors import InvalidInput, LeaseRefused, TaskClosed
from signoff.store import cases as case_store
from signoff.store.database import Database
from signoff.store.schema import audit_events, decisions, reviews, tasks


def _actions(db: Database) -> list[str]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(audit_events.c.action).order_by(audit_events.c.id)).scalars())


def test_claim_submit_decides_the_case_and_audits_each_step(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None and got.token == 1
    outcome = review.submit(db, project, alice, got.task_id, got.token, "bad", "looks risky")
    assert (outcome.label, outcome.decided_by, outcome.replayed) == ("bad", "reviewer", False)
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, got.case_id)
    assert record is not None
    assert record.status == "decided"
    assert record.decision.label == "bad" and record.decision.decided_by == "reviewer"
    assert record.reviews[0].comment == "looks risky"
    assert record.tasks[0].status == "done"
    assert [(lease.token, lease.end_reason) for lease in record.tasks[0].leases] == [(1, "submitted")]
    assert _actions(db)[-3:] == ["task.claimed", "review.submitted", "case.decided"]
    assert review.claim(db, project, alice) is None


def test_a_stale_token_is_refused_and_changes_nothing(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)  # 60 s leases
    alice, bob = reviewer(db, "alice"), reviewer(db, "bob")
    first = review.claim(db, project, alice)
    assert first is not None
    age_lease(db, first.task_id, 61)  # alice's lease expires by the database clock
    second = review.claim(db, project, bob)
    assert second is not None and (second.task_id, second.token) == (first.task_id, 2)
    before = _actions(db)
    with pytest.raises(LeaseRefused, match="a newer lease \\(token 2\\) has replaced it"):
        review.submit(db, project, alice, first.task_id, first.token, "good")
    with pytest.raises(LeaseRefused):
        review.heartbeat(db, alice, first.task_id, first.token)
    assert _actions(db) == before
    with db.transaction(write=False) as conn:
        assert conn.execute(select(reviews)).first() is None
        assert conn.execute(select(decisions)).first() is None
    review.submit(db, project, bob, second.task_id, second.token, "good")


def test_a_foreign_lease_is_refused(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    alice, mallory = reviewer(db, "alice"), reviewer(db, "mallory")
    got = review.claim(db, project, alice)
    assert got is not None
    with pytest.raises(LeaseRefused, match="not held by you"):
        review.submit(db, project, mallory, got.task_id, got.token, "good")
    with pytest.raises(LeaseRefused, match="not held by you"):
        review.release(db, mallory, got.task_id, got.token)


def test_an_expired_lease_cannot_submit_even_before_anyone_reclaims(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)  # 60 s leases
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    age_lease(db, got.task_id, 61)
    with pytest.raises(LeaseRefused, match="it expired at"):
        review.submit(db, project, alice, got.task_id, got.token, "good")
    again = review.claim(db, project, alice)
    assert again is not None and again.token == 2
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, got.case_id)
    assert record is not None
    assert [(x.token, x.end_reason) for x in record.tasks[0].leases] == [(1, "expired"), (2, None)]


def test_heartbeat_extends_the_lease_past_its_ttl(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)  # 60 s leases
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    for _ in range(3):  # 90 s in all, a heartbeat every 30 s
        aged = age_lease(db, got.task_id, 30)
        expires = review.heartbeat(db, alice, got.task_id, got.token)
        assert expires - aged >= timedelta(seconds=30)  # back to a full TTL from the database's now
    review.submit(db, project, alice, got.task_id, got.token, "good")


def test_release_returns_the_task_and_the_old_token_is_dead(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    alice, bob = reviewer(db, "alice"), reviewer(db, "bob")
    got = review.claim(db, project, alice)
    assert got is not None
    review.release(db, alice, got.task_id, got.token)
    with pytest.raises(LeaseRefused, match="released"):
        review.submit(db, project, alice, got.task_id, got.token, "good")
    again = review.claim(db, project, bob)
    assert again is not None and again.task_id == got.task_id and again.token == 2


def test_repeating_the_same_submit_is_idempotent_but_a_different_one_is_refused(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    first = review.submit(db, project, alice, got.task_id, got.token, "bad", "x")
    replay = review.submit(db, project, alice, got.task_id, got.token, "bad", "x")
    assert (replay.review_id, replay.replayed) == (first.review_id, True)
    with pytest.raises(TaskClosed):
        review.submit(db, project, alice, got.task_id, got.token, "good", "changed my mind")
    with db.transaction(write=False) as conn:
        assert len(conn.execute(select(reviews)).all()) == 1


def test_a_label_outside_the_flow_is_invalid_and_keeps_the_lease(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    with pytest.raises(InvalidInput, match="label: must be one of \\['good', 'bad'\\]"):
        review.submit(db, project, alice, got.task_id, got.token, "maybe")
    review.submit(db, project, alice, got.task_id, got.token, "good")


def test_claims_follow_priority_then_age_and_respect_roles(db: Database, tmp_path: Path) -> None:
    project = queued(
        db,
        tmp_path,
        3,
        queues={"default": {}, "senior": {"role": "admin"}},
    )
    with db.transaction() as conn:
        conn.execute(tasks.update().where(tasks.c.id == 2).values(priority=5))
        conn.execute(tasks.update().where(tasks.c.id == 3).values(queue="senior", role="admin", priority=9))
    alice, bob, boss = reviewer(db, "alice"), reviewer(db, "bob"), reviewer(db, "boss", Role.ADMIN)
    claimed = [review.claim(db, project, alice), review.claim(db, project, alice), review.claim(db, project, bob)]
    assert [c.task_id if c else None for c in claimed] == [TaskId(2), TaskId(1), None]  # 3 needs an admin
    senior = review.claim(db, project, boss, queue="senior")
    assert senior is not None and senior.task_id == 3
    assert project.flows["test-flow"].queues["senior"].role == "admin"


def test_at_equal_priority_the_earliest_due_task_is_claimed_first(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 4)
    with db.transaction() as conn:
        now = db.now(conn)
        conn.execute(tasks.update().where(tasks.c.id == 2).values(due_at=now + timedelta(hours=2)))
        conn.execute(tasks.update().where(tasks.c.id == 3).values(due_at=now + timedelta(minutes=5)))
    alice = reviewer(db, "alice")
    order = []
    while (got := review.claim(db, project, alice)) is not None:
        order.append(got.task_id)
        review.release(db, alice, got.task_id, got.token)
        with db.transaction() as conn:  # out of the way, so the next claim shows the next in order
            conn.execute(tasks.update().where(tasks.c.id == got.task_id).values(status="done"))
    assert order == [3, 2, 1, 4]  # due soonest, due later, then the tasks without a due time, oldest first


def test_a_queue_sla_sets_the_due_time_of_its_tasks(db: Database, tmp_path: Path) -> None:
    queued(db, tmp_path, 1, queues={"default": {"sla": 7200}})
    with db.transaction(write=False) as conn:
        row = conn.execute(select(tasks.c.created_at, tasks.c.due_at)).one()
    assert row.due_at - row.created_at == timedelta(hours=2)


def test_a_skipped_task_returns_higher_and_not_to_the_reviewer_who_skipped(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 2)
    alice, bob = reviewer(db, "alice"), reviewer(db, "bob")
    got = review.claim(db, project, alice)
    assert got is not None and got.task_id == 1
    review.skip(db, alice, got.task_id, got.token, "I know this applicant", unsure=False)
    again = review.claim(db, project, alice)
    assert again is not None and again.task_id == 2  # not task 1 again
    theirs = review.claim(db, project, bob)
    assert theirs is not None and theirs.task_id == 1  # raised above nothing else, so first for bob
    with db.transaction(write=False) as conn:
        priority = conn.execute(select(tasks.c.priority).where(tasks.c.id == 1)).scalar_one()
    assert priority == 1
    assert _actions(db)[-3:] == ["task.skipped", "task.claimed", "task.claimed"]


def test_a_skip_needs_a_reason_and_a_live_lease(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    with pytest.raises(InvalidInput, match="say why"):
        review.skip(db, alice, got.task_id, got.token, "  ")
    with pytest.raises(LeaseRefused):
        review.skip(db, alice, got.task_id, got.token + 1, "unsure", unsure=True)


def test_a_returning_reviewer_lists_resumes_and_releases_the_leases_they_hold(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 4)  # 60 s leases
    alice, bob = reviewer(db, "alice"), reviewer(db, "bob")
    mine = [review.claim(db, project, alice) for _ in range(3)]
    theirs = review.claim(db, project, bob)
    assert all(c is not None for c in mine) and theirs is not None
    first, second, third = (c for c in mine if c is not None)
    age_lease(db, third.task_id, 61)  # expired by the database clock: not held any more
    assert [(h.task_id, h.token) for h in review.held(db, alice)] == [(first.task_id, 1), (second.task_id, 1)]
    assert [h.task_id for h in review.held(db, bob)] == [theirs.task_id]

    # Resuming is fenced like a heartbeat: someone else's lease, a wrong token or an expired lease are refused.
    with pytest.raises(LeaseRefused, match="not held by you"):
        review.resume(db, alice, theirs.task_id, theirs.token)
    with pytest.raises(LeaseRefused, match="no such lease was ever issued"):
        review.resume(db, alice, first.task_id, 2)
    with pytest.raises(LeaseRefused, match="it expired at"):
        review.resume(db, alice, third.task_id, third.token)
    aged = age_lease(db, first.task_id, 30)
    resumed = review.resume(db, alice, first.task_id, first.token)
    assert (resumed.task_id, resumed.case_id, resumed.token, resumed.flow) == (
        first.task_id,
        first.case_id,
        1,
        first.flow,
    )
    assert resumed.expires_at > aged + timedelta(seconds=29)  # renewed by a full TTL from now
    assert _actions(db)[-1] == "lease.extended"
    review.release(db, alice, second.task_id, second.token)
    assert [h.task_id for h in review.held(db, alice)] == [first.task_id]
    outcome = review.submit(db, project, alice, resumed.task_id, resumed.token, "bad")
    assert outcome.decided_by == "reviewer"
    assert review.held(db, alice) == []
