"""The queue views a review lead needs: depth, age, SLA risk, throughput and per-reviewer load."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import combinations

from signoff.metrics.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha
from signoff.metrics.estimates import wilson_interval
from signoff.store import queues as store
from signoff.store import reviewers as people
from signoff.store.database import Database
from signoff.store.records import ConsensusAnswer, GoldAccuracy, Pause, QueueLoad, ReviewerLoad


@dataclass(frozen=True)
class Overview:
    at: datetime
    risk_window: float
    queues: list[QueueLoad]
    reviewers: list[ReviewerLoad]


def overview(db: Database, *, flows: Collection[str] | None = None, risk_window: float = 900.0) -> Overview:
    """Queues (of ``flows``; None: every flow) and reviewers now, by the database clock; a task is at risk when
    due within ``risk_window`` s."""
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        loads = store.by_queue(db, conn, now, timedelta(seconds=risk_window), flows)
        reviewers = store.by_reviewer(conn, now)
    queues = [
        replace(q, oldest_age_seconds=None if q.oldest is None else (now - q.oldest).total_seconds()) for q in loads
    ]
    return Overview(now, risk_window, queues, reviewers)


def totals(db: Database) -> tuple[int, int]:
    """How many cases are recorded, and how many tasks wait in a queue for a reviewer."""
    with db.transaction(write=False) as conn:
        return store.totals(conn)


@dataclass(frozen=True)
class QueueAgreement:
    flow: str
    queue: str
    cases: int
    krippendorff_alpha: float | None
    fleiss_kappa: float | None


@dataclass(frozen=True)
class PairAgreement:
    reviewers: tuple[str, str]
    cases: int
    cohen_kappa: float | None


@dataclass(frozen=True)
class DecisionAgreement:
    """How one reviewer's answers agree with the final decisions of the same cases."""

    reviewer: str
    cases: int
    kappa_with_decision: float | None


@dataclass(frozen=True)
class Agreement:
    """Agreement among independent reviewers of the same cases (consensus tasks): per queue Krippendorff's
    alpha (any number of reviews per case) and Fleiss' kappa (when every case had the same number); per pair
    of reviewers Cohen's kappa on the cases both answered; per reviewer Cohen's kappa against the final
    decisions. None where the data cannot define it (too few cases, or one label only)."""

    queues: list[QueueAgreement]
    pairs: list[PairAgreement]
    reviewers: list[DecisionAgreement]


@dataclass(frozen=True)
class Reviewers:
    at: datetime
    reviewers: list[ReviewerLoad]
    gold: list[GoldAccuracy]
    pauses: list[Pause]
    agreement: Agreement


def reviewers(db: Database, *, flows: Collection[str] | None = None) -> Reviewers:
    """What a lead watches per person: load now, gold accuracy per queue with its 95% Wilson interval, and
    open pauses (of ``flows``; None: every flow)."""
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        load = store.by_reviewer(conn, now)
        tallies = people.gold_by_reviewer(conn, flows)
        pauses = [p for p in people.pauses(conn) if flows is None or p.flow in flows]
        answers = people.consensus_reviews(conn, flows)
    return Reviewers(now, load, [_accuracy(g) for g in tallies], pauses, agreement(answers))


def _accuracy(gold: GoldAccuracy) -> GoldAccuracy:
    estimate = wilson_interval(gold.correct, gold.answered)
    assert estimate is not None  # a row exists only for answered gold
    return replace(gold, accuracy=estimate.value, accuracy_low=estimate.low, accuracy_high=estimate.high)


def agreement(answers: Sequence[ConsensusAnswer]) -> Agreement:
    """Agreement figures from the answers on multiply-reviewed cases."""
    by_queue: dict[tuple[str, str], dict[int, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    decided: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for row in answers:
        by_queue[(row.flow, row.queue)][row.case_id][row.reviewer] = row.label
        if row.decision is not None:
            mine, final = decided[row.reviewer]
            mine.append(row.label)
            final.append(row.decision)
    queues: list[QueueAgreement] = []
    shared: dict[tuple[str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for (flow, queue), cases in sorted(by_queue.items()):
        units = [list(labels.values()) for labels in cases.values()]
        sizes = {len(u) for u in units}
        categories = sorted({label for u in units for label in u})
        fleiss = None
        if len(sizes) == 1:
            fleiss = fleiss_kappa([[u.count(c) for c in categories] for u in units])
        queues.append(QueueAgreement(flow, queue, len(units), krippendorff_alpha(units), fleiss))
        for labels in cases.values():
            for first, second in combinations(sorted(labels), 2):
                pair = shared[(first, second)]
                pair[0].append(labels[first])
                pair[1].append(labels[second])
    pairs = [
        PairAgreement(pair, len(a), cohen_kappa(a, b) if len(a) > 1 else None)
        for pair, (a, b) in sorted(shared.items())
    ]
    reviewers = [
        DecisionAgreement(name, len(mine), cohen_kappa(mine, final) if len(mine) > 1 else None)
        for name, (mine, final) in sorted(decided.items())
    ]
    return Agreement(queues, pairs, reviewers)
