"""Queue views: depth, leases, oldest, SLA risk, throughput and reviewer load, against known data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from helpers.queues import queued, reviewer
from signoff import review
from signoff.review import ReviewerLoad
from signoff.review.queues import overview
from signoff.store.database import Database
from signoff.store.schema import tasks


def test_the_overview_counts_what_a_lead_needs(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 6)
    with db.transaction() as conn:
        now = db.now(conn)
        conn.execute(update(tasks).where(tasks.c.id == 1).values(due_at=now - timedelta(minutes=5)))  # overdue
        conn.execute(update(tasks).where(tasks.c.id == 2).values(due_at=now + timedelta(minutes=10)))  # at risk
        conn.execute(update(tasks).where(tasks.c.id == 3).values(due_at=now + timedelta(hours=3)))  # fine
    alice, bob = reviewer(db, "alice"), reviewer(db, "bob")
    first = review.claim(db, project, alice)
    assert first is not None
    review.submit(db, project, alice, first.task_id, first.token, "good")  # task 1 done: no longer overdue
    review.claim(db, project, bob)  # bob holds task 2
    view = overview(db)
    (row,) = view.queues
    assert (row.flow, row.queue, row.open, row.leased) == ("test-flow", "default", 5, 1)
    assert (row.at_risk, row.overdue, row.done_last_hour) == (1, 0, 1)
    assert 0 <= row.oldest_age_seconds < 60
    assert view.reviewers == [ReviewerLoad("alice", 0, 1), ReviewerLoad("bob", 1, 0)]
    assert overview(db, risk_window=4 * 3600).queues[0].at_risk == 2
    assert overview(db, flows={"other"}).queues == []
