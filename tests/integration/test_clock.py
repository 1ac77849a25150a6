"""A clock given to the database: every service and named query goes by it (a simulation's time), and without one
nothing changes. Only SQLite takes one; PostgreSQL refuses it, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers.queues import queued, reviewer
from signoff import review
from signoff.clock import SimulatedClock, seconds
from signoff.errors import LeaseRefused, SignoffError
from signoff.review.escalation import escalate
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases, tasks

START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # years from the machine's own clock


@pytest.fixture
def clocked(sqlite_url: str) -> Iterator[tuple[Database, SimulatedClock]]:
    clock = SimulatedClock(START)
    database = Database(sqlite_url, clock=clock)
    yield database, clock
    database.dispose()


def test_cases_tasks_and_leases_take_the_clocks_time(clocked: tuple[Database, SimulatedClock], tmp_path: Path) -> None:
    db, clock = clocked
    project = queued(db, tmp_path, 2, queues={"default": {"role": "reviewer", "lease_ttl": 600, "sla": 3600}})
    with db.transaction(write=False) as conn:
        assert db.now(conn) == START
        assert set(conn.execute(select(cases.c.created_at)).scalars()) == {START}
        assert set(conn.execute(select(tasks.c.due_at)).scalars()) == {START + timedelta(hours=1)}
    clock.advance(60)
    alice = reviewer(db, "alice")
    claim = review.claim(db, project, alice)
    assert claim is not None
    assert claim.expires_at == START + timedelta(seconds=660)  # by the named claim statement, in SQL
    clock.advance(601)  # the lease ran out on the simulated clock, not on the machine's
    with pytest.raises(LeaseRefused, match="expired"):
        review.submit(db, project, alice, claim.task_id, claim.token, "good")
    bob = reviewer(db, "bob")
    again = review.claim(db, project, bob)
    assert again is not None and again.task_id == claim.task_id  # an expired lease is claimable again
    review.submit(db, project, bob, again.task_id, again.token, "good")
    with db.transaction(write=False) as conn:
        decided = conn.execute(select(cases.c.decided_at).where(cases.c.id == again.case_id)).scalar_one()
    assert decided == START + timedelta(seconds=661)
    with db.transaction(write=False) as conn:
        times = set(conn.execute(select(audit_events.c.at)).scalars())
    assert min(times) == START and max(times) == START + timedelta(seconds=661)


def test_escalation_sweeps_by_the_clock(clocked: tuple[Database, SimulatedClock], tmp_path: Path) -> None:
    db, clock = clocked
    project = queued(db, tmp_path, 1, queues={"default": {"role": "reviewer", "sla": 600}})
    assert escalate(db, project) == []
    clock.advance(601)
    assert [e.action for e in escalate(db, project)] == ["hold"]


def test_the_database_keeps_its_own_time_without_a_clock(db: Database) -> None:
    with db.transaction(write=False) as conn:
        assert abs(db.now(conn) - datetime.now(UTC)) < timedelta(minutes=1)


def test_postgresql_refuses_a_clock(postgres_url: str) -> None:
    with pytest.raises(SignoffError, match="for SQLite databases only"):
        Database(postgres_url, clock=SimulatedClock(START))


def test_a_simulated_clock_never_goes_back() -> None:
    clock = SimulatedClock(START)
    clock.advance(1.5)
    assert clock.now() == START + timedelta(seconds=1.5)
    with pytest.raises(ValueError, match="does not go back"):
        clock.set(START)


@pytest.mark.parametrize(
    ("text", "expected"), [("90", 90.0), ("90s", 90.0), ("4m", 240.0), ("2h", 7200.0), ("1.5d", 129_600.0)]
)
def test_durations_read_as_text(text: str, expected: float) -> None:
    assert seconds(text) == expected


@pytest.mark.parametrize("text", ["", "2 hours", "-1h", "0s", "h"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        seconds(text)
