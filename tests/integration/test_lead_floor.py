"""The lead page's reads on both databases: open tasks in claim order with assignee and lease holder, the
escalation sweep's latest events, the roster of people who may review, and the whole floor with fatigue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text, update

from helpers.queues import queued, reviewer
from signoff import review, users
from signoff.audit import record
from signoff.config.flows import Workload
from signoff.domain import AuditEvent, Role
from signoff.review import leads
from signoff.review.escalation import escalate
from signoff.review.floor import Fatigue, floor
from signoff.store import audit as audit_store
from signoff.store import reviewers as people
from signoff.store import tasks as task_store
from signoff.store.database import Database
from signoff.store.schema import tasks


def test_open_tasks_come_in_claim_order_with_their_assignee_and_holder(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 5)
    alice, bob = reviewer(db, "alice"), reviewer(db, "bob")
    with db.transaction() as conn:
        now = db.now(conn)
        conn.execute(update(tasks).where(tasks.c.id == 4).values(priority=1))  # best priority first
        conn.execute(update(tasks).where(tasks.c.id == 3).values(due_at=now + timedelta(minutes=5)))
        conn.execute(update(tasks).where(tasks.c.id == 2).values(due_at=now + timedelta(minutes=50)))
    leads.assign(db, project, reviewer(db, "lena", Role.LEAD), 5, "bob")
    claim = review.claim(db, project, alice)
    assert claim is not None and claim.task_id == 4
    done = review.claim(db, project, alice)
    assert done is not None and done.task_id == 3
    review.submit(db, project, alice, done.task_id, done.token, "good")
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        rows = task_store.open_in_claim_order(conn, now, 10)
        assert [r.id for r in task_store.open_in_claim_order(conn, now, 2)] == [4, 2]
    assert [(r.id, r.assignee, r.holder) for r in rows] == [
        (4, None, "alice"),
        (2, None, None),
        (1, None, None),
        (5, "bob", None),
    ]
    assert bob.name == "bob"


def test_the_latest_escalations_are_the_sweeps_events_newest_first(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 3, queues={"default": {"sla": 600}})
    with db.transaction() as conn:
        past = db.now(conn) - timedelta(minutes=1)
        conn.execute(update(tasks).where(tasks.c.id.in_([1, 3])).values(due_at=past))
        record(db, conn, [AuditEvent("lena", "task.escalated", "task", "2", {"case_id": 2})])  # not the sweep
    assert len(escalate(db, project)) == 2
    with db.transaction(write=False) as conn:
        events = audit_store.escalations(conn, 10)
        assert [e.entity_id for e in audit_store.escalations(conn, 1)] == ["3"]
    assert [(e.actor, e.action, e.entity_id) for e in events] == [
        ("escalation", "task.held", "3"),
        ("escalation", "task.held", "1"),
    ]


def test_the_roster_lists_who_may_review_with_sorted_skills(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    reviewer(db, "bob")
    lena = reviewer(db, "lena", Role.LEAD)
    reviewer(db, "owen", Role.OWNER)
    leads.set_skills(db, lena, "bob", ["spanish", "fraud"])
    found = floor(db, project, lena).reviewers
    assert [(p.name, p.role, p.skills) for p in found] == [
        ("bob", "reviewer", ["fraud", "spanish"]),
        ("lena", "lead", []),
    ]


def test_the_floor_shows_fatigue_pauses_and_escalations(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 4, queues={"default": {"sla": 600}})
    project = project.model_copy(update={"workload": Workload(max_per_hour=1, max_continuous=3600)})
    alice, bob = reviewer(db, "alice"), reviewer(db, "bob")
    claim = review.claim(db, project, alice)
    assert claim is not None
    review.submit(db, project, alice, claim.task_id, claim.token, "good")
    with db.transaction() as conn:
        people.pause(conn, bob.id, "test-flow", "default", "wrong on gold", db.now(conn))
        conn.execute(update(tasks).where(tasks.c.id == 4).values(due_at=db.now(conn) - timedelta(minutes=1)))
    escalate(db, project)
    view = floor(db, project, users.operator("tester"), tasks=2)
    by_name = {r.name: r for r in view.reviewers}
    assert by_name["alice"].fatigue.limited and by_name["alice"].fatigue.limit == "max_per_hour"
    assert by_name["alice"].reviews_last_hour == 1
    assert by_name["bob"].fatigue == Fatigue(False, None, "0 of 1 reviews this hour; 0 of 60 min without a break")
    assert [(p.flow, p.queue, p.reason) for p in by_name["bob"].pauses] == [("test-flow", "default", "wrong on gold")]
    assert [(e.task_id, e.action) for e in view.escalations] == [(4, "task.held")]
    assert [t.id for t in view.tasks] == [2, 3] and view.tasks_shown == 2
    assert {t.sla for t in view.tasks} == {"at risk"}  # due in 10 min, inside the 15 min window
    (queue,) = view.queues
    assert (queue.open, queue.done_last_hour, queue.krippendorff_alpha) == (3, 1, None)


def _fill_audit(db: Database, n: int) -> None:
    """``n`` ordinary events and, among the oldest, a few by the escalation sweep."""
    series = (
        "SELECT generate_series(1, :n) AS i"
        if db.dialect == "postgresql"
        else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s"
    )
    with db.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (at, actor, action, entity, entity_id, data) "
                "SELECT :at, CASE WHEN i % 10000 = 0 THEN 'escalation' ELSE 'alice' END, 'task.claimed', 'task', "
                f"CAST(i AS VARCHAR(20)), '{{}}' FROM ({series}) AS numbers"
            ),
            {"n": n, "at": datetime.now(UTC)},
        )
        conn.execute(text("ANALYZE"))


def test_the_latest_escalations_are_read_from_their_partial_index(db: Database) -> None:
    _fill_audit(db, 200_000)
    explain = "EXPLAIN" if db.dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    with db.transaction(write=False) as conn:
        query = audit_store.escalations_query(20).compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(" ".join(str(c) for c in row) for row in conn.execute(text(f"{explain} {query}")))
        assert len(audit_store.escalations(conn, 20)) == 20
    assert "ix_audit_events_escalation" in plan, plan
    assert "Seq Scan" not in plan and "SCAN audit_events\n" not in plan + "\n", plan


def test_a_flow_lead_sees_the_default_decisions_of_their_flow_only(db: Database, tmp_path: Path) -> None:
    """A decision by the exhausted chain's safe label is an event on the case (its data names no case): the
    lead of the case's flow sees it, a lead of another flow does not."""
    project = queued(
        db, tmp_path, 1, queues={"default": {"sla": 600, "when_exhausted": {"action": "label", "label": "bad"}}}
    )
    with db.transaction() as conn:
        conn.execute(update(tasks).where(tasks.c.id == 1).values(due_at=db.now(conn) - timedelta(minutes=1)))
    escalate(db, project)
    ours = users.create_user(db, "lena", Role.LEAD, "tester", ["test-flow"])[0]
    theirs = users.create_user(db, "otto", Role.LEAD, "tester", ["other-flow"])[0]
    shown = floor(db, project, ours).escalations
    assert [(e.case_id, e.action, e.what) for e in shown] == [(1, "case.decided", "decided bad by default action")]
    assert floor(db, project, theirs).escalations == []
