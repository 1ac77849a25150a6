"""A small scripted run whose every KPI is worked out by hand in the tests that use it.

Six cases of flow ``test-flow`` (the model's P(bad) is the ``score`` field; a band 0.3..0.7 sends to review;
every auto-decided case is audited, so the audit is a census with inclusion probability 1):

| score | group | model | route  | human answer            | final decision      |
|-------|-------|-------|--------|-------------------------|---------------------|
| 0.1   | a     | good  | audit  | good (agrees)           | good (model)        |
| 0.2   | a     | good  | audit  | bad (model was wrong)   | good (model)        |
| 0.9   | b     | bad   | audit  | bad (agrees)            | bad (model)         |
| 0.5   | a     | good  | review | bad (corrects)          | bad (reviewer)      |
| 0.6   | b     | bad   | review | bad                     | bad (reviewer)      |
| 0.4   | b     | good  | review | bad (corrects)          | bad (reviewer)      |

Two gold cases (expected "bad" and "good") are served first, at rate 1, and answered "bad" both times: one right
of two. The six non-gold tasks then get turnarounds of 60, 120, 180, 240, 300 and 600 seconds (in task id
order) and a due time 200 seconds after creation, written straight into the store.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from helpers.builders import make_project
from helpers.queues import reviewer
from signoff import intake, review
from signoff.config import Project
from signoff.intake import validate_case
from signoff.store.database import Database
from signoff.store.schema import cases, tasks

SCORES = [(0.1, "a"), (0.2, "a"), (0.9, "b"), (0.5, "a"), (0.6, "b"), (0.4, "b")]
AUDIT_ANSWERS = {0.1: "good", 0.2: "bad", 0.9: "bad"}
DURATIONS = [60, 120, 180, 240, 300, 600]
SLA_SECONDS = 200


def scripted_project(db: Database, tmp_path: Path, **overrides: Any) -> Project:
    return make_project(
        tmp_path,
        db.url,
        queues={"default": {"role": "reviewer", "lease_ttl": 60, "gold": {"rate": 1.0, "min_answers": 100}}},
        audit={"rate": 1.0},
        costs={"per_review": 2.0, "per_case": 0.5, "currency": "EUR"},
        **overrides,
    )


def scripted_run(db: Database, project: Project) -> None:
    """Submit, review, answer gold and set the task times as the module docstring says."""
    runtime = intake.prepare(db, project)["test-flow"]
    gold = []
    for i, expected in enumerate(("bad", "good")):
        case, _ = validate_case(runtime.flow, None, {"score": 0.5, "group": "a"}, f"gold[{i}]")
        assert case is not None
        gold.append((case, expected))
    intake.add_gold(db, runtime, [c for c, _ in gold], [g for _, g in gold], "lead")
    found = []
    for i, (score, group) in enumerate(SCORES):
        case, _ = validate_case(runtime.flow, f"c{i}", {"score": score, "group": group}, f"cases[{i}]")
        assert case is not None
        found.append(case)
    intake.submit(db, runtime, found, "tester")
    alice = reviewer(db, "alice")
    rng = random.Random(1)  # a test's draw
    while (got := review.claim(db, project, alice, rng=rng)) is not None:
        with db.transaction(write=False) as conn:
            fields = conn.execute(select(cases.c.fields).where(cases.c.id == got.case_id)).scalar_one()
        if got.kind == "gold":
            label = "bad"
        elif got.kind == "audit":
            label = AUDIT_ANSWERS[fields["score"]]
        else:
            label = "bad"
        review.submit(db, project, alice, got.task_id, got.token, label)
    with db.transaction() as conn:
        now = db.now(conn)
        ids = list(conn.execute(select(tasks.c.id).where(tasks.c.kind != "gold").order_by(tasks.c.id)).scalars())
        assert len(ids) == len(DURATIONS)
        base = now - timedelta(seconds=2000)
        for task_id, seconds in zip(ids, DURATIONS, strict=True):
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id)
                .values(
                    created_at=base,
                    completed_at=base + timedelta(seconds=seconds),
                    due_at=base + timedelta(seconds=SLA_SECONDS),
                )
            )
