"""A flow's decisions since a cursor: the model's at intake and the reviewers' later, in the order the audit chain
sealed them, page by page, never one behind a cursor already read."""

from __future__ import annotations

from pathlib import Path

from helpers.queues import reviewer, scored
from signoff import audit, review
from signoff.store.database import Database


def _read(db: Database, after: int = 0, limit: int = 100) -> list[tuple[int, str, str]]:
    found, _ = review.decisions_since(db, "test-flow", after, limit)
    return [(d.case_id, d.label, d.decided_by) for d in found]


def test_decisions_are_listed_once_sealed_in_seal_order_and_paged_by_their_seq(db: Database, tmp_path: Path) -> None:
    project = scored(db, tmp_path, [0.1, 0.5, 0.9, 0.5])  # 1 and 3 decided by the model, 2 and 4 for review
    assert _read(db) == []  # nothing sealed yet: a reader could otherwise pass a late commit by
    audit.seal(db)
    assert _read(db) == [(1, "good", "model"), (3, "bad", "model")]

    first, after = review.decisions_since(db, "test-flow", 0, 1)
    assert [d.case_id for d in first] == [1] and after == first[0].seq
    second, after = review.decisions_since(db, "test-flow", after, 1)
    assert [d.case_id for d in second] == [3] and after == second[0].seq
    assert review.decisions_since(db, "test-flow", after, 1) == ([], None)
    cursor = second[0].seq

    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None and got.case_id in (2, 4)
    answered = review.submit(db, project, alice, got.task_id, got.token, "bad", "")
    assert _read(db, cursor) == []
    audit.seal(db)
    (made,), caught_up = review.decisions_since(db, "test-flow", cursor, 100)
    assert caught_up is None
    assert (made.case_id, made.label, made.decided_by, made.review_id) == (
        got.case_id,
        "bad",
        "reviewer",
        answered.review_id,
    )
    assert made.seq > cursor and made.external_id == f"c{got.case_id - 1}"
    assert _read(db) == [(1, "good", "model"), (3, "bad", "model"), (got.case_id, "bad", "reviewer")]
    assert review.decisions_since(db, "other-flow", 0, 100) == ([], None)
