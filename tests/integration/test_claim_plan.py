"""The claim is served by its index: no sequential scan and no sort of the queue, even with 1M open tasks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from signoff.domain import UserId
from signoff.store import tasks as task_store
from signoff.store.database import Database


def _fill(db: Database, n: int, history: int = 0) -> None:
    """n open or done tasks over 4 queues and 3 priorities, two thirds with a due time, each on its own case;
    ``history`` reviews of done tasks by reviewer 1 (alice), whose claims the plans are for."""
    now = datetime.now(UTC)
    stamp = now.replace(tzinfo=None) if db.dialect == "sqlite" else now
    series = (
        "SELECT i FROM generate_series(1, :n) AS i"
        if db.dialect == "postgresql"
        else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s"
    )
    due = (
        "CASE WHEN i % 3 = 0 THEN NULL ELSE now() + make_interval(secs => i % 7200) END"
        if db.dialect == "postgresql"
        else "CASE WHEN i % 3 = 0 THEN NULL ELSE strftime('%Y-%m-%d %H:%M:%f000', 'now', '+' || (i % 7200) || "
        "' seconds') END"
    )
    with db.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO cases (id, flow, fields, payload_hash, groups, status, created_at) "
                f"SELECT i, 'f', '{{}}', 'x', '{{}}', 'in_review', :now FROM ({series}) AS g"
            ),
            {"n": n, "now": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO tasks (case_id, flow, queue, role, priority, status, lease_token, lease_ttl, created_at, "
                f"kind, due_at) SELECT i, 'f', 'q' || (i % 4), 'reviewer', i % 3, CASE WHEN i % 5 = 0 THEN 'done' "
                f"ELSE 'queued' END, 0, 300, :now, 'review', {due} FROM ({series}) AS g"
            ),
            {"n": n, "now": stamp},
        )
        if history:
            conn.execute(
                text("INSERT INTO users (id, name, created_at) VALUES (1, 'alice', :now)"),
                {"now": stamp},
            )
            conn.execute(
                text(
                    "INSERT INTO reviews (task_id, case_id, reviewer_id, lease_token, label, comment, created_at) "
                    "SELECT id, case_id, 1, 1, 'good', '', :now FROM tasks WHERE status = 'done' LIMIT :h"
                ),
                {"now": stamp, "h": history},
            )
        conn.execute(text("ANALYZE"))


def _plan(db: Database, name: str) -> str:
    explain = "EXPLAIN" if db.dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    with db.transaction() as conn:
        where = {"flow": "f", "queue": "q0"} if name == "claim_task" else {}
        chosen, params = task_store.claim_query(
            db, reviewer=UserId(1), reviewer_name="alice", roles=["reviewer"], blocked=["f/q3"], **where
        )
        assert chosen == name
        rows = conn.execute(text(f"{explain} {db.queries[name]}"), params).all()
    return "\n".join(" ".join(str(cell) for cell in row) for row in rows)


@pytest.mark.slow  # writes a million tasks
@pytest.mark.parametrize(("name", "index"), [("claim_task", "ix_tasks_open"), ("claim_any", "ix_tasks_open_any")])
def test_the_postgresql_claim_uses_its_index_over_a_million_tasks(postgres_url: str, name: str, index: str) -> None:
    db = Database(postgres_url)
    _fill(db, 1_000_000, history=100_000)  # a long history must not tip the planner into a scan and a sort
    plan = _plan(db, name)
    db.dispose()
    assert f"Index Scan using {index} on tasks" in plan, plan
    assert "Seq Scan on tasks" not in plan and "Sort" not in plan, plan
    # The reviewer's history is probed per candidate through an index of reviews, never read whole.
    assert "Scan using ix_reviews" in plan and "case_id = tasks.case_id" in plan, plan


@pytest.mark.parametrize(("name", "index"), [("claim_task", "ix_tasks_open"), ("claim_any", "ix_tasks_open_any")])
def test_the_sqlite_claim_uses_its_index_without_sorting(sqlite_url: str, name: str, index: str) -> None:
    db = Database(sqlite_url)
    _fill(db, 50_000, history=5_000)
    plan = _plan(db, name)
    db.dispose()
    assert f"USING INDEX {index}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    # A reviewer's history is probed per candidate through its covering indexes, never read whole.
    assert "SEARCH r USING COVERING INDEX ix_reviews_reviewer (reviewer_id=? AND case_id=?)" in plan, plan
    assert "SEARCH s USING COVERING INDEX" in plan and "(task_id=? AND reviewer_id=?)" in plan, plan
