"""A flow's KPIs over a time window, read from the store and computed with the pure formulas beside this module.

Windows are the last hour, day or week before ``end`` (the database clock by default). What each number rests
on travels with it (counts, n, intervals), and the choices that shape them are stated where they are made:

* the model's accuracy on the cases it decides alone comes only from the random audit sample, weighted by the
  inclusion probabilities (``estimates.audit_accuracy``); agreement on flagged cases is never reported as
  accuracy;
* the human accuracy comes from gold answers and adjudications: a reviewer's answer on a case an adjudicator
  later settled is right when it matches the adjudicated label;
* there is no outcome table yet, so error rates by group use audit labels (reviews of audit tasks) only.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from signoff.config import Flow, Project
from signoff.errors import InvalidInput, Problem
from signoff.inputs.labelled import calibration_file
from signoff.metrics import agreement, drift, estimates, fairness, kpis, rollups
from signoff.metrics.fairness import FairnessReport, Movement
from signoff.models import load_model
from signoff.store import metrics as metric_store
from signoff.store import rollups as rollup_store
from signoff.store.database import Database

Window = Literal["hour", "day", "week"]
WINDOWS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
HUMAN = ("reviewer", "consensus", "adjudication")


@dataclass(frozen=True)
class Accuracy:
    """``Acc_human - Acc_model``: ``model`` from the audit sample only, ``human`` from gold and adjudications."""

    model: estimates.Estimate | None
    human: estimates.Estimate | None
    gain: estimates.Gain | None
    audited: int
    human_sources: dict[str, int]


@dataclass(frozen=True)
class Cost:
    labour: float
    system: float
    corrected: int
    per_corrected: float | None
    currency: str
    reviews: int
    cases: int


@dataclass(frozen=True)
class Reviewers:
    """Agreement between reviewers on cases with several reviews (Krippendorff's alpha) and gold accuracy."""

    alpha: float | None
    units: int
    gold: estimates.Estimate | None


@dataclass(frozen=True)
class Drift:
    reference: str
    features: dict[str, drift.Stability | None]
    score: drift.ScoreDrift | None

    @property
    def largest(self) -> float | None:
        values = [s.psi for s in self.features.values() if s is not None]
        if self.score is not None:
            values.append(self.score.stability.psi)
        return max(values) if values else None


@dataclass(frozen=True)
class Point:
    """One window of the trend series the charts draw."""

    start: datetime
    cases: int
    flag_rate: float | None
    sla_compliance: float | None
    turnaround_p95: float | None
    turnaround_p50: float | None = None
    cost_per_corrected: float | None = None


@dataclass(frozen=True)
class FlowMetrics:
    flow: str
    window: str
    start: datetime
    end: datetime
    cases: int
    flagged: int
    flag_rate: float | None
    flag_rate_by_reason: dict[str, float]
    turnaround: kpis.Turnaround | None
    sla: kpis.SlaCompliance
    accuracy: Accuracy
    fairness: dict[str, FairnessReport]
    fairness_drift: dict[str, list[Movement]]
    cost: Cost
    reviewers: Reviewers
    drift: Drift
    series: list[Point] = field(default_factory=list)
    turnaround_bins: list[kpis.Bin] = field(default_factory=list)  # the window's distribution, log-spaced
    fairness_previous: dict[str, FairnessReport] = field(default_factory=dict)  # the window before: the drift


def window_or_error(window: str) -> str:
    """``window`` if it is one of hour, day or week; else an error that says so."""
    if window not in WINDOWS:
        raise InvalidInput([Problem("window", f"must be one of {', '.join(WINDOWS)}, got {window[:20]!r}")])
    return window


def window_bounds(window: str, end: datetime) -> tuple[datetime, datetime]:
    return end - WINDOWS[window_or_error(window)], end


def _human_accuracy(reviews: Sequence[Any]) -> tuple[estimates.Estimate | None, dict[str, int]]:
    """Gold answers, plus the reviews of cases an adjudicator settled (right when they match the adjudication)."""
    gold = [r for r in reviews if r.kind == "gold" and r.gold is not None]
    adjudicated = [r for r in reviews if r.kind == "review" and r.decided_by == "adjudication"]
    right = sum(r.label == r.gold for r in gold) + sum(r.label == r.decision for r in adjudicated)
    total = len(gold) + len(adjudicated)
    return estimates.wilson_interval(right, total), {"gold": len(gold), "adjudication": len(adjudicated)}


def first_per_case(audits: Sequence[Any]) -> dict[int, Any]:
    """The first audit review per case (reviews oldest first): its label is the truth for the model's auto
    decision."""
    found: dict[int, Any] = {}
    for r in audits:
        found.setdefault(int(r.case_id), r)
    return found


def model_accuracy(audited: Sequence[Any]) -> estimates.Estimate | None:
    """The model's accuracy on the cases it decided alone, from their audit reviews (label, model_label and
    inclusion_probability each), weighted by the inclusion probabilities."""
    return estimates.audit_accuracy(
        [r.label == r.model_label for r in audited], [float(r.inclusion_probability) for r in audited]
    )


def _audit_labels(reviews: Sequence[Any]) -> dict[int, Any]:
    return first_per_case([r for r in reviews if r.kind == "audit" and r.inclusion_probability is not None])


def _overridden(case: metric_store.DecidedCase) -> bool | None:
    """Whether a person's decision differs from the model's label; None when no person decided the case."""
    return (case.decision != case.model_label) if case.decided_by in HUMAN else None


def _fairness(
    conn: Any, flow: Flow, start: datetime, end: datetime, mark: int, audits: dict[int, Any]
) -> tuple[dict[str, fairness.FairnessReport], list[metric_store.DecidedCase]]:
    """Fairness over the decided cases of ``[start, end)``: those the model decided at intake from the cells, the
    others (people's decisions, escalation's default) and the audited ones (whose truth is known) one by one; and
    the cases not decided by the model, which the cost's corrected count reads too."""
    late = metric_store.not_by_model(conn, flow.name, start, end)
    if not flow.groups:
        return {}, late
    counting = rollups.Counting(flow.groups)
    window = rollups.window(conn, flow.name, counting, (rollups.FAIR,), start, end, mark)
    seen = {case.id for case in late}
    audited = [
        case
        for case in metric_store.decided_cases(conn, [i for i in audits if i not in seen])
        if start <= case.created_at < end and case.decided_by == "model"
    ]
    good = flow.favourable
    one_by_one = [case for case in late + audited if case.decision is not None]
    report: dict[str, fairness.FairnessReport] = {}
    for attribute in flow.groups:
        cells: dict[tuple[str, bool, str], int] = defaultdict(int)
        for (_, key), (count, _) in window.items():
            name, group, flagged, decision = rollups.fair_key(key)
            if name == attribute and decision:
                cells[(group, flagged, decision)] += count
        for case in audited:  # counted one by one below, with their truth
            cells[(rollups.category_key(case.groups.get(attribute)), case.verdict == "review", str(case.decision))] -= 1
        counted: Counter[fairness.Cell] = Counter()
        for (group, flagged, decision), count in cells.items():
            counted[(fairness.label(rollups.category_value(group)), flagged, decision == good, None, None)] += count
        for case in one_by_one:
            truth = (audits[case.id].label == good) if case.id in audits else None
            cell = (fairness.label(case.groups.get(attribute)), case.verdict == "review", case.decision == good)
            counted[(*cell, _overridden(case), truth)] += 1
        if not sum(counted.values()):
            return {}, late
        report[attribute] = fairness.counted_report(counted)
    return report, late


def _numbers(values: list[Any]) -> Any:
    """A column as floats when every value is a number (None as NaN), otherwise as objects (categories)."""
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


_REFERENCES: dict[tuple[str, str, float], rollups.Reference] = {}
SETTLED = timedelta(hours=1)  # how long after its end a flow's earliest window is taken to have all its cases


def _reference(db: Database, project: Project, flow: Flow, span: timedelta) -> tuple[str, rollups.Reference | None]:
    """The drift reference and what it is: the flow's calibration file (the training reference: feature columns
    and model scores, read once per version of the file), or else the flow's earliest window, kept in the store
    once it has closed (before that it is read from the cases, one window of them)."""
    if flow.calibration.file is not None:
        path = project.resolve(flow.calibration.file)
        key = (flow.name, str(path), path.stat().st_mtime)
        if key not in _REFERENCES:
            reference = calibration_file(project, flow, load_model(project, flow))
            frame, scores = reference.frame, reference.scores
            columns = {name: _numbers(list(frame[name])) for name in flow.drift_fields if name in frame.columns}
            confidence = [float(max(p)) for p, ok in zip(scores.probabilities, scores.valid, strict=True) if ok]
            _REFERENCES[key] = rollups.Reference.of(columns, confidence)
        return f"calibration file {flow.calibration.file}", _REFERENCES[key]
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        first = metric_store.first_case_at(conn, flow.name)
        if first is None:
            return "none", None
        source = f"earliest window from {first.isoformat()}"
        name = f"earliest {int(span.total_seconds())}s from {first.isoformat()}"
        stored = rollup_store.stored_reference(conn, flow.name, name)
        if stored is not None:
            return source, rollups.Reference.from_document(stored)
        facts = rollup_store.facts_between(conn, flow.name, first, first + span)
    columns = {name: _numbers([f.fields.get(name) for f in facts]) for name in flow.drift_fields}
    found = rollups.Reference.of(columns, [f.confidence for f in facts if f.confidence is not None])
    if now >= first + span + SETTLED:
        rollup_store.store_reference(db, flow.name, name, found.document())
    return source, found


def _drift(conn: Any, flow: Flow, source: str, reference: rollups.Reference | None, marks: Marks, start: datetime,
           end: datetime, cases: int) -> Drift:  # fmt: skip
    if reference is None:
        return Drift("none", {}, None)
    if not cases:
        return Drift(source, {}, None)
    kinds = (rollups.FEATURE, rollups.SCORE, rollups.FINE)
    window = rollups.window(conn, flow.name, reference, kinds, start, end, marks.drift)
    features, score = reference.drift(window)  # a reference stored before drift_fields may name the entity
    return Drift(source, {k: v for k, v in features.items() if k in flow.drift_fields}, score)


@dataclass(frozen=True)
class Marks:
    """Up to which case id the counts and the drift cells were folded before the read."""

    counts: int
    drift: int


@dataclass(frozen=True)
class Counted:
    """A window's cases by verdict and by the rule that flagged them, from the cells."""

    cases: int
    flagged: int
    reasons: dict[str, int]


def _counted(conn: Any, flow: Flow, start: datetime, end: datetime, mark: int) -> Counted:
    counting = rollups.Counting(flow.groups)
    window = rollups.window(conn, flow.name, counting, (rollups.VERDICT,), start, end, mark, rollups.raw_verdicts)
    cases = flagged = 0
    reasons: dict[str, int] = defaultdict(int)
    for (_, key), (count, _) in window.items():
        verdict, rule = rollups.split_key(key)
        cases += count
        if verdict == "review":
            flagged += count
            reasons[rule or verdict] += count
    return Counted(cases, flagged, dict(reasons))


def _fold(db: Database, flow: Flow, reference: rollups.Reference | None) -> Marks:
    """Fold what was recorded since the last read into the cells (exact: every final case, once)."""
    counting = rollups.Counting(flow.groups)
    reached = rollups.fold(db, flow.name, [counting] if reference is None else [counting, reference])
    return Marks(reached[counting.scope], reached[reference.scope] if reference is not None else 0)


@dataclass(frozen=True)
class Work:
    """The review work of consecutive windows, counted by the database: per window, the completed tasks (their
    count, total seconds and the order statistics of the percentiles), the tasks by SLA result, the reviews
    submitted and the cases people corrected."""

    completed: dict[int, metric_store.Completed]
    tasks: dict[int, metric_store.TaskCounts]
    reviews: dict[int, int]
    corrected: dict[int, int]

    @classmethod
    def read(cls, conn: Any, flow: str, edges: list[datetime], now: datetime) -> Work:
        return cls(
            metric_store.completed(conn, flow, edges, kpis.PERCENTS),
            metric_store.task_counts(conn, flow, edges, now),
            metric_store.review_counts(conn, flow, edges),
            metric_store.corrected_counts(conn, flow, edges, HUMAN),
        )

    def turnaround(self, i: int) -> kpis.Turnaround | None:
        done, counted = self.completed.get(i), self.tasks.get(i)
        if done is None:
            return None
        return kpis.turnaround_ranked(done.n, counted.open if counted else 0, done.total, done.ranked)

    def sla(self, i: int) -> kpis.SlaCompliance:
        counted = self.tasks.get(i, metric_store.TaskCounts(0, 0, 0, 0, 0))
        return kpis.SlaCompliance.of(counted.met, counted.breached, counted.pending, counted.no_due)

    def spread(self, conn: Any, flow: str, i: int, start: datetime, end: datetime) -> list[kpis.Bin]:
        """Window ``i``'s turnaround distribution (``kpis.turnaround_bins``), its bins counted by the database."""
        done = self.completed.get(i)
        if done is None:
            return []
        shortest, longest = done.ranked[0], done.ranked[done.n - 1]
        edges = kpis.turnaround_edges(shortest, longest)
        if edges is None:
            return [kpis.Bin(shortest, longest, done.n)]
        return kpis.binned(edges, metric_store.completed_in_bins(conn, flow, start, end, edges))


def _series(flow: Flow, edges: list[datetime], work: Work, counts: list[Counted]) -> list[Point]:
    """The trend's points: ``counts``, the cases of each window between consecutive ``edges``."""
    series = []
    for i, (start, cases) in enumerate(zip(edges[:-1], counts, strict=True)):
        done = work.turnaround(i)
        labour, system = work.reviews.get(i, 0) * flow.costs.per_review, cases.cases * flow.costs.per_case
        series.append(
            Point(
                start,
                cases.cases,
                kpis.flag_rate(cases.flagged, cases.cases),
                work.sla(i).value,
                done.p95 if done else None,
                done.p50 if done else None,
                kpis.cost_per_corrected(labour, system, work.corrected.get(i, 0)),
            )
        )
    return series


def flow_metrics(
    db: Database,
    project: Project,
    flow_name: str,
    window: str = "day",
    end: datetime | None = None,
    points: int = 12,
    drift_threshold: float | None = None,
) -> FlowMetrics:
    """Every KPI of one flow over the window ending at ``end``, with a trend of ``points`` windows before it."""
    flow = project.flow(flow_name)
    span = WINDOWS[window_or_error(window)]
    source, reference = _reference(db, project, flow, span)
    marks = _fold(db, flow, reference)
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        end = end or now
        start, _ = window_bounds(window, end)
        edges = [end - span * (points - i) for i in range(points + 1)] if points else [start, end]
        # the window is the trend's last: its cases are counted once, with the trend's
        counts = [_counted(conn, flow, a, b, marks.counts) for a, b in itertools.pairwise(edges)]
        counted = counts[-1]
        work = Work.read(conn, flow.name, edges, now)  # the window is the trend's last
        reviews = metric_store.review_rows(conn, flow.name, start, end)
        previous_reviews = metric_store.review_rows(conn, flow.name, start - span, start)
        audits = _audit_labels(reviews)
        report, late = _fairness(conn, flow, start, end, marks.counts, audits)
        before, _ = _fairness(conn, flow, start - span, start, marks.counts, _audit_labels(previous_reviews))
        data_drift = _drift(conn, flow, source, reference, marks, start, end, counted.cases)
        series = _series(flow, edges, work, counts) if points else []
        last = len(edges) - 2
        spread = work.spread(conn, flow.name, last, start, end)

    done, sla = work.turnaround(last), work.sla(last)

    audited = list(audits.values())
    model = model_accuracy(audited)
    human, sources = _human_accuracy(reviews)
    gain = estimates.accuracy_gain(human, model) if human is not None and model is not None else None

    threshold = drift_threshold if drift_threshold is not None else (flow.alerts.fairness_drift or 0.1)
    moved = {
        attribute: fairness.fairness_drift(before[attribute], now_report, threshold, flow.alerts.min_cases)
        for attribute, now_report in report.items()
        if attribute in before
    }

    labour = len(reviews) * flow.costs.per_review
    system = counted.cases * flow.costs.per_case
    corrected = sum(_overridden(case) is True for case in late)
    cost = Cost(
        labour,
        system,
        corrected,
        kpis.cost_per_corrected(labour, system, corrected),
        flow.costs.currency,
        len(reviews),
        counted.cases,
    )

    by_case: dict[int, list[str]] = defaultdict(list)
    for r in reviews:
        if r.kind == "review":
            by_case[int(r.case_id)].append(str(r.label))
    units = [labels for labels in by_case.values() if len(labels) >= 2]
    gold = [r for r in reviews if r.kind == "gold" and r.gold is not None]
    reviewers = Reviewers(
        agreement.krippendorff_alpha(units),
        len(units),
        estimates.wilson_interval(sum(r.label == r.gold for r in gold), len(gold)),
    )

    return FlowMetrics(
        flow=flow.name,
        window=window,
        start=start,
        end=end,
        cases=counted.cases,
        flagged=counted.flagged,
        flag_rate=kpis.flag_rate(counted.flagged, counted.cases),
        flag_rate_by_reason=kpis.flag_rate_by_reason(Counter(counted.reasons).elements(), counted.cases),
        turnaround=done,
        turnaround_bins=spread,
        sla=sla,
        accuracy=Accuracy(model, human, gain, len(audited), sources),
        fairness=report,
        fairness_drift=moved,
        cost=cost,
        reviewers=reviewers,
        drift=data_drift,
        series=series,
        fairness_previous=before,
    )


def as_document(metrics: FlowMetrics) -> dict[str, Any]:
    """The metrics as plain JSON-ready values (datetimes as ISO text), with the drift's largest PSI."""
    from dataclasses import asdict

    document: dict[str, Any] = _plain(asdict(metrics))
    document["drift"]["largest_psi"] = metrics.drift.largest
    for name, stability in metrics.drift.features.items():
        if stability is not None:
            document["drift"]["features"][name]["level"] = stability.level
    return document


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
