"""Many reviewers at once: every task is completed exactly once, on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers.queues import queued, reviewer
from signoff import audit, review
from signoff.domain import TaskId
from signoff.errors import Conflict
from signoff.store.database import Database
from signoff.store.schema import decisions, reviews, tasks

pytestmark = pytest.mark.slow  # 32 reviewer threads through 2,000 tasks

THREADS = 32
TASKS = 2000


def test_32_reviewers_complete_2000_tasks_exactly_once(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, TASKS)
    people = [reviewer(db, f"r{i}") for i in range(THREADS)]
    done: Counter[int] = Counter()
    stale_refused: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        me = people[index]
        try:
            start.wait()
            while (got := review.claim(db, project, me)) is not None:
                if got.token > 1:
                    raise AssertionError(f"task {got.task_id} was claimed again while its lease was live")
                review.submit(db, project, me, got.task_id, got.token, "good" if got.task_id % 2 else "bad")
                try:  # a second submit with a forged older token must be refused (409)
                    review.submit(db, project, me, TaskId(got.task_id), got.token - 1, "bad")
                except Conflict:
                    with lock:
                        stale_refused.append(got.task_id)
                with lock:
                    done[got.task_id] += 1
        except BaseException as error:  # noqa: BLE001  # reported below, in the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert failures == []
    assert len(done) == TASKS and set(done.values()) == {1}
    assert len(stale_refused) == TASKS
    with db.transaction(write=False) as conn:
        per_task = conn.execute(select(reviews.c.task_id, func.count()).group_by(reviews.c.task_id)).all()
        assert len(per_task) == TASKS and {n for _, n in per_task} == {1}
        assert conn.execute(select(func.count()).select_from(decisions)).scalar_one() == TASKS
        assert conn.execute(select(func.count()).select_from(tasks).where(tasks.c.status != "done")).scalar_one() == 0
        assert conn.execute(select(func.max(tasks.c.lease_token))).scalar_one() == 1
    audit.seal(db)
    report = audit.verify(db)
    assert report.ok and report.checked > 2 * TASKS
