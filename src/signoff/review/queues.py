"""The queue views a review lead needs: depth, age, SLA risk, throughput and per-reviewer load."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from signoff.metrics.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha
from signoff.metrics.estimates import wilson_interval
from signoff.store import queues as store
from signoff.store import reviewers as people
from signoff.store.database import Database


@dataclass(frozen=True)
class Overview:
    at: datetime
    risk_window: float
    queues: list[dict[str, Any]]
    reviewers: list[dict[str, Any]]


def overview(db: Database, *, flows: Collection[str] | None = None, risk_window: float = 900.0) -> Overview:
    """Queues (of ``flows``; None: every flow) and reviewers now, by the database clock; a task is at risk when
    due within ``risk_window`` s."""
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        queues = store.by_queue(conn, now, timedelta(seconds=risk_window), flows)
        reviewers = store.by_reviewer(conn, now)
    for row in queues:
        oldest = row["oldest"]
        if isinstance(oldest, str):  # SQLite returns MIN() over timestamps as text
            oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
        row["oldest"] = oldest
        row["oldest_age_seconds"] = (now - oldest).total_seconds() if oldest is not None else None
    return Overview(now, risk_window, queues, reviewers)


def totals(db: Database) -> tuple[int, int]:
    """How many cases are recorded, and how many tasks wait in a queue for a reviewer."""
    with db.transaction(write=False) as conn:
        return store.totals(conn)


@dataclass(frozen=True)
class Agreement:
    """Agreement among independent reviewers of the same cases (consensus tasks): per queue Krippendorff's
    alpha (any number of reviews per case) and Fleiss' kappa (when every case had the same number); per pair
    of reviewers Cohen's kappa on the cases both answered; per reviewer Cohen's kappa against the final
    decisions. None where the data cannot define it (too few cases, or one label only)."""

    queues: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
    reviewers: list[dict[str, Any]]


@dataclass(frozen=True)
class Reviewers:
    at: datetime
    reviewers: list[dict[str, Any]]
    gold: list[dict[str, Any]]
    pauses: list[dict[str, Any]]
    agreement: Agreement


def reviewers(db: Database, *, flows: Collection[str] | None = None) -> Reviewers:
    """What a lead watches per person: load now, gold accuracy per queue with its 95% Wilson interval, and
    open pauses (of ``flows``; None: every flow)."""
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        load = store.by_reviewer(conn, now)
        gold = people.gold_by_reviewer(conn, flows)
        pauses = [p for p in people.pauses(conn) if flows is None or p["flow"] in flows]
        answers = people.consensus_reviews(conn, flows)
    for row in gold:
        estimate = wilson_interval(row["correct"], row["answered"])
        assert estimate is not None  # a row exists only for answered gold
        row.update(accuracy=estimate.value, accuracy_low=estimate.low, accuracy_high=estimate.high)
    return Reviewers(now, load, gold, pauses, agreement(answers))


def agreement(answers: Sequence[Any]) -> Agreement:
    """Agreement figures from the answers on multiply-reviewed cases (rows of case_id, flow, queue, reviewer,
    label, decision)."""
    by_queue: dict[tuple[str, str], dict[int, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    decided: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for row in answers:
        by_queue[(row.flow, row.queue)][row.case_id][row.reviewer] = row.label
        if row.decision is not None:
            mine, final = decided[row.reviewer]
            mine.append(row.label)
            final.append(row.decision)
    queues: list[dict[str, Any]] = []
    shared: dict[tuple[str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for (flow, queue), cases in sorted(by_queue.items()):
        units = [list(labels.values()) for labels in cases.values()]
        sizes = {len(u) for u in units}
        categories = sorted({label for u in units for label in u})
        fleiss = None
        if len(sizes) == 1:
            fleiss = fleiss_kappa([[u.count(c) for c in categories] for u in units])
        queues.append(
            {
                "flow": flow,
                "queue": queue,
                "cases": len(units),
                "krippendorff_alpha": krippendorff_alpha(units),
                "fleiss_kappa": fleiss,
            }
        )
        for labels in cases.values():
            for first, second in combinations(sorted(labels), 2):
                pair = shared[(first, second)]
                pair[0].append(labels[first])
                pair[1].append(labels[second])
    pairs = [
        {"reviewers": list(pair), "cases": len(a), "cohen_kappa": cohen_kappa(a, b) if len(a) > 1 else None}
        for pair, (a, b) in sorted(shared.items())
    ]
    reviewers = [
        {
            "reviewer": name,
            "cases": len(mine),
            "kappa_with_decision": cohen_kappa(mine, final) if len(mine) > 1 else None,
        }
        for name, (mine, final) in sorted(decided.items())
    ]
    return Agreement(queues, pairs, reviewers)
