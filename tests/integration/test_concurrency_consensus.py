"""64 reviewers on 10,000 cases, a tenth of them needing two reviews: every task ends with exactly the required
reviews, none twice by one person, none lost, none accepted on a stale lease. On both databases."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers.builders import make_project
from helpers.queues import reviewer
from signoff import intake, review
from signoff.intake import validate_case
from signoff.store.database import Database
from signoff.store.schema import cases, decisions, leases, reviews, tasks

pytestmark = pytest.mark.slow  # 64 reviewer threads through 10,000 cases

REVIEWERS = 64
CASES = 10_000
DOUBLE = CASES // 10


def test_64_reviewers_settle_10000_cases_with_consensus_on_a_tenth(db: Database, tmp_path: Path) -> None:
    policy = [
        {"name": "double-check", "kind": "expression", "when": "amount > 0", "queue": "double"},
        {"name": "uncertain", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"},
    ]
    queues = {
        "default": {},
        "double": {"consensus": {"reviews": 2, "adjudicate_in": "senior"}},
        "senior": {"role": "admin"},
    }
    project = make_project(tmp_path, db.url, policy=policy, queues=queues)
    runtime = intake.prepare(db, project)["test-flow"]
    batch = []
    for i in range(CASES):
        fields = {"score": 0.5, "group": "a", **({"amount": 1.0} if i < DOUBLE else {})}
        case, _ = validate_case(runtime.flow, f"c{i}", fields, f"cases[{i}]")
        assert case is not None
        batch.append(case)
    for start in range(0, CASES, 2000):
        intake.submit(db, runtime, batch[start : start + 2000], "tester")
    people = [reviewer(db, f"r{i}") for i in range(REVIEWERS)]
    failures: list[BaseException] = []
    gate = threading.Barrier(REVIEWERS)
    # A connection per reviewer, as a server sized for 64 concurrent reviewers would have. With fewer, some threads
    # wait for the pool, and SQLAlchemy's pool hands a returned connection to whoever asks first, so on a slow
    # machine a waiting thread could go unserved past the pool's timeout: a test of the pool, not of the queue.
    wide = Database(db.url, pool_size=REVIEWERS)

    def work(index: int) -> None:
        me = people[index]
        try:
            gate.wait()
            while (got := review.claim(wide, project, me)) is not None:
                label = "good" if got.case_id % 2 else "bad"  # reviewers agree, so consensus settles every case
                review.submit(wide, project, me, got.task_id, got.token, label)
        except BaseException as error:  # noqa: BLE001  # reported in the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(REVIEWERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=1200)
    wide.dispose()
    assert failures == []
    with db.transaction(write=False) as conn:
        per_task = dict(conn.execute(select(reviews.c.task_id, func.count()).group_by(reviews.c.task_id)).all())
        n_tasks = conn.execute(select(func.count()).select_from(tasks)).scalar_one()
        assert n_tasks == CASES + DOUBLE and len(per_task) == n_tasks and set(per_task.values()) == {1}
        twice = conn.execute(
            select(reviews.c.case_id, reviews.c.reviewer_id)
            .group_by(reviews.c.case_id, reviews.c.reviewer_id)
            .having(func.count() > 1)
        ).all()
        assert twice == []
        per_case = conn.execute(select(func.count()).select_from(reviews).group_by(reviews.c.case_id)).scalars()
        assert sorted(set(per_case)) == [1, 2]
        assert conn.execute(select(func.count()).select_from(decisions)).scalar_one() == CASES
        assert (
            conn.execute(select(func.count()).select_from(cases).where(cases.c.status != "decided")).scalar_one() == 0
        )
        consensus = conn.execute(
            select(func.count()).select_from(decisions).where(decisions.c.decided_by == "consensus")
        )
        assert consensus.scalar_one() == DOUBLE
        stale = conn.execute(
            select(func.count())
            .select_from(
                reviews.join(
                    leases, (leases.c.task_id == reviews.c.task_id) & (leases.c.token == reviews.c.lease_token)
                )
            )
            .where((leases.c.reviewer_id != reviews.c.reviewer_id) | (leases.c.end_reason != "submitted"))
        ).scalar_one()
        assert stale == 0
