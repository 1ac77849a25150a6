"""Run Signoff's own engine on a simulated clock: a discrete-event simulation of a scenario.

Nothing of the engine is imitated. Cases go in through intake (scored by the flow's model, routed by its policy,
recorded with their tasks and audit events), simulated reviewers claim tasks and submit labels through the review
service under real leases (heartbeating when a review outlasts its lease), escalation sweeps run as the server's
would, and late outcomes are recorded through the learning layer. Only the time is simulated: the database is
given a ``SimulatedClock`` (``store.Database(clock=...)``), which every service and named query goes by, and the
simulation moves it from one event to the next. The database is a fresh SQLite file of the simulation's own.

Events are kept in a heap by time: an arrival, a reviewer looking for work, a review finished, a lease to extend,
an escalation sweep, outcomes due, a sample of the queue. A reviewer who finds nothing waits, idle, until a case
opens a task; so reviewers take tasks the moment one exists, as people watching a queue would.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from itertools import count
from pathlib import Path

import numpy as np
import pandas as pd

from signoff import config, intake, review
from signoff.clock import SimulatedClock
from signoff.config import Project
from signoff.domain import DecidedBy, Role, TaskId, User, Verdict
from signoff.errors import LeaseRefused, LimitReached, TaskClosed
from signoff.inputs.labelled import read_labelled
from signoff.inputs.validation import CaseInput, Entry, validate_batch
from signoff.intake.runtime import load as load_runtime
from signoff.learning import outcomes
from signoff.learning.assess import auc, truth_index
from signoff.metrics.service import FlowMetrics, flow_metrics
from signoff.models.frames import frame_of
from signoff.review.escalation import escalate
from signoff.review.queues import totals
from signoff.sim import credit
from signoff.sim.scenario import Pool, Scenario
from signoff.store import migrate
from signoff.store.database import Database
from signoff.users import create_user

ACTOR = "simulation"
SAMPLES = 400  # queue samples over the whole run, for the report's chart
WEEK = 7 * 86_400.0
OUTCOME_EVERY = 3600.0  # seconds between deliveries of the outcomes that came due
CREDIT_CASES = 20_000  # applicants generated once and drawn from with replacement


@dataclass(frozen=True)
class Sample:
    """The queue at a moment: seconds since the start, tasks waiting, reviewers at work."""

    at: float
    queued: int
    busy: int


@dataclass(frozen=True)
class WeekAuc:
    """The serving model's AUC on the cases that arrived in one simulated week and whose outcome came back."""

    start: datetime  # the week's start, as the metrics service's weekly windows start
    outcomes: int
    auc: float | None  # None when the outcomes that came back hold one label only


@dataclass
class PoolTally:
    reviews: int = 0
    correct: int = 0
    busy_seconds: float = 0.0


@dataclass
class Result:
    """What a run measured beside what the engine recorded (which the metrics service reads)."""

    scenario: Scenario
    start: datetime
    end: datetime
    cases: int = 0
    sent_to_review: int = 0
    arrivals: list[float] = field(default_factory=list)  # seconds since the start, of each case
    waits: list[float] = field(default_factory=list)  # arrival to first claim, seconds, of each review task
    services: list[float] = field(default_factory=list)  # the review times drawn, in the order of the claims
    decided: list[float] = field(default_factory=list)  # arrival to a reviewer's decision, seconds
    decided_arrivals: list[float] = field(default_factory=list)  # the arrival of each case in ``decided``
    samples: list[Sample] = field(default_factory=list)
    pools: dict[str, PoolTally] = field(default_factory=dict)
    outcomes: int = 0
    escalations: int = 0
    expired_leases: int = 0
    events: int = 0
    wall_seconds: float = 0.0
    auc_by_week: list[WeekAuc] = field(default_factory=list)


@dataclass
class _Reviewer:
    user: User
    pool: Pool
    working: TaskId | None = None


@dataclass(frozen=True)
class _Source:
    """The cases a run draws from, validated once, with their true labels."""

    cases: list[CaseInput]
    labels: list[str]


def _source(scenario: Scenario, project: Project) -> _Source:
    flow = project.flow(scenario.flow)
    if scenario.cases.file is not None:
        found = read_labelled(flow, scenario.cases.file, scenario.cases.label)
        return _Source(found.cases, found.labels)
    rows = _records(credit.applicants(CREDIT_CASES, scenario.seed + 1))
    entries = [
        Entry(f"credit[{i}]", None, {k: v for k, v in row.items() if k in flow.fields}, label=row["label"])
        for i, row in enumerate(rows)
    ]
    batch = validate_batch(flow, [entries], "the credit generator's cases do not fit the flow", label="label")
    return _Source(batch.cases, batch.labels)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in frame.to_dict("records")
    ]


def weeks(result: Result) -> int:
    """The weekly windows of a run's report: counted back from its end, the first one holding its start."""
    return max(1, math.ceil(result.scenario.duration / WEEK))


def week_of(result: Result, at: float) -> datetime:
    """The start of the weekly window (see ``weeks``) that holds ``at`` seconds since the run's start."""
    back = min(weeks(result), max(1, math.ceil((result.scenario.duration - at) / WEEK)))
    return result.end - timedelta(seconds=back * WEEK)


class Simulation:
    """One run of a scenario against a project's flow, in a new SQLite database at ``database``."""

    def __init__(self, scenario: Scenario, project: Project, database: Path) -> None:
        self.scenario = scenario
        self.flow = project.flow(scenario.flow)
        if scenario.policy is not None:  # the scenario's policy instead of the flow's, for intake and review alike
            where = f"scenario policy for flow {self.flow.name}"
            self.flow = config.with_policy_rules(self.flow, list(scenario.policy), where)
            project = project.model_copy(update={"flows": {**project.flows, self.flow.name: self.flow}})
        self.project = project
        self.clock = SimulatedClock(scenario.start)
        self.db = Database(f"sqlite:///{database}", clock=self.clock)
        migrate.upgrade(self.db)
        self.rng = np.random.default_rng(scenario.seed)
        self.runtime = load_runtime(project, self.flow, self.db, ACTOR, np.random.default_rng(scenario.seed))
        self.source = _source(scenario, project)
        self.reviewers = [
            _Reviewer(create_user(self.db, f"{pool.name}-{i + 1:03d}", Role.REVIEWER, ACTOR, [self.flow.name])[0], pool)
            for pool in scenario.reviewers
            for i in range(pool.size)
        ]
        self.idle: deque[_Reviewer] = deque()
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.order = count()
        self.arrived: dict[int, float] = {}  # case id -> arrival, seconds since the start
        self.truth: dict[int, str] = {}
        self.claimed: set[int] = set()
        self.due_outcomes: deque[tuple[float, int, str]] = deque()
        self.pending: list[tuple[int, float]] = []  # (case drawn, arrival) not yet submitted (``arrivals.batch``)
        self.drawn: dict[int, int] = {}  # case id -> the source case it is
        self.known: list[int] = []  # the cases whose outcome was recorded, in order
        self.result = Result(scenario, scenario.start, scenario.start + timedelta(seconds=scenario.duration))
        self.result.pools = {pool.name: PoolTally() for pool in scenario.reviewers}
        self.now = 0.0

    # -- the event loop ---------------------------------------------------------------------------------------

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (when, next(self.order), action))

    def run(self, progress: Callable[[float], None] | None = None) -> Result:
        """Run to the scenario's end; ``progress`` hears the share of simulated time done, now and then."""
        began = time.perf_counter()
        horizon = self.scenario.duration
        self.at(self._next_arrival(0.0), self._arrive)
        for reviewer in self.reviewers:
            self.at(0.0, partial(self._look, reviewer))
        if self.scenario.arrivals.batch:
            self.at(self.scenario.arrivals.batch, self._every_batch)
        if any(q.sla is not None for q in self.flow.queues.values()):  # else nothing can ever be due
            self.at(self.scenario.escalate_every, self._escalate)
        if self.scenario.outcomes is not None:
            self.at(OUTCOME_EVERY, self._deliver_outcomes)
        self.at(0.0, self._sample)
        reported = -1.0
        while self.heap and self.heap[0][0] < horizon:  # the period is [start, end), as the metrics windows are
            when, _, action = heapq.heappop(self.heap)
            self.now = when
            self.clock.set(self.scenario.start + timedelta(seconds=when))
            action()
            self.result.events += 1
            if progress is not None and when - reported >= horizon / 200:
                progress(when / horizon)
                reported = when
        self.clock.set(self.result.end)
        self.result.auc_by_week = self._auc_by_week()
        self.result.wall_seconds = time.perf_counter() - began
        if progress is not None:
            progress(1.0)
        return self.result

    # -- arrivals ---------------------------------------------------------------------------------------------

    def _next_arrival(self, after: float) -> float:
        """The next arrival of a Poisson process whose rate is constant within each hour (memoryless: at an hour's
        end the draw starts again at the next hour's rate)."""
        t = after
        while True:
            moment = self.scenario.start + timedelta(seconds=t)
            hour_end = t + 3600 - (moment.minute * 60 + moment.second + moment.microsecond / 1e6)
            rate = self.scenario.arrivals.rate(moment)
            gap = self.rng.exponential(1 / rate) if rate > 0 else math.inf
            if t + gap < hour_end:
                return t + gap
            t = hour_end
            if t > self.scenario.duration:
                return math.inf

    def _arrive(self) -> None:
        self.pending.append((int(self.rng.integers(len(self.source.cases))), self.now))
        if not self.scenario.arrivals.batch:
            self._submit_pending()
        self.at(self._next_arrival(self.now), self._arrive)

    def _every_batch(self) -> None:
        self._submit_pending()
        self.at(self.now + self.scenario.arrivals.batch, self._every_batch)

    def _submit_pending(self) -> None:
        """Submit the cases that arrived since the last submission through intake, as one batch. The engine
        records them at the submission (its clock's now); the run measures waits and decisions from each case's own
        arrival, so a batch window delays a case's record by less than the window and its decision not at all."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        first = self.result.cases + 1
        cases = [
            CaseInput(f"sim-{first + i}", c.fields, c.groups, c.payload_hash, c.entity)
            for i, c in enumerate(self.source.cases[pick] for pick, _ in pending)
        ]
        outcome = self.scenario.outcomes
        for (pick, arrived), submitted in zip(pending, intake.submit(self.db, self.runtime, cases, ACTOR), strict=True):
            self.result.cases += 1
            truth = self.source.labels[pick]
            self.arrived[submitted.case_id] = arrived
            self.drawn[submitted.case_id] = pick
            self.result.arrivals.append(arrived)
            self.truth[submitted.case_id] = truth
            if submitted.verdict is Verdict.REVIEW:
                self.result.sent_to_review += 1
            if submitted.verdict is not Verdict.AUTO or submitted.decided_by is None:
                self._wake()
            if outcome is not None and self.rng.random() < outcome.share:
                self.due_outcomes.append((arrived + outcome.delay, submitted.case_id, truth))

    def _wake(self) -> None:
        if self.idle:
            reviewer = self.idle.popleft()
            self.at(self.now, lambda: self._look(reviewer))

    # -- reviewers --------------------------------------------------------------------------------------------

    def _look(self, reviewer: _Reviewer) -> None:
        try:
            found = review.claim(self.db, self.project, reviewer.user, flow=self.flow.name)
        except LimitReached:
            self.at(self.now + 300.0, lambda: self._look(reviewer))  # a workload limit: back in five minutes
            return
        if found is None:
            self.idle.append(reviewer)
            return
        if found.case_id not in self.claimed:
            self.claimed.add(found.case_id)
            if found.case_id in self.arrived:
                self.result.waits.append(self.now - self.arrived[found.case_id])
        reviewer.working = found.task_id
        took = self._service_time(reviewer.pool)
        self.result.services.append(took)
        self.result.pools[reviewer.pool.name].busy_seconds += took
        lease = (found.expires_at - self.clock.now()).total_seconds()
        finish = self.now + took
        beat = self.now + lease / 2
        while beat < finish:  # a reviewer still at work keeps the lease alive, as the review page does
            self.at(beat, partial(self._heartbeat, reviewer, found.task_id, found.token))
            beat += lease / 2
        self.at(finish, lambda: self._submit(reviewer, found.task_id, found.token, found.case_id))

    def _heartbeat(self, reviewer: _Reviewer, task_id: TaskId, token: int) -> None:
        if reviewer.working != task_id:
            return
        try:
            review.heartbeat(self.db, reviewer.user, task_id, token)
        except (LeaseRefused, TaskClosed):
            self.result.expired_leases += 1

    def _service_time(self, pool: Pool) -> float:
        spec = pool.service_time
        if spec.distribution == "fixed":
            return spec.mean
        if spec.distribution == "lognormal":  # the log's mean chosen so that the mean is ``mean``
            return float(self.rng.lognormal(math.log(spec.mean) - spec.sigma**2 / 2, spec.sigma))
        return float(self.rng.exponential(spec.mean))

    def _submit(self, reviewer: _Reviewer, task_id: TaskId, token: int, case_id: int) -> None:
        reviewer.working = None
        truth = self.truth.get(case_id)
        labels = self.flow.labels
        right = truth is not None and self.rng.random() < reviewer.pool.accuracy
        if right:
            label = truth
        else:
            others = [label for label in labels if label != truth] or list(labels)
            label = others[int(self.rng.integers(len(others)))]
        try:
            done = review.submit(self.db, self.project, reviewer.user, task_id, token, str(label))
        except (LeaseRefused, TaskClosed):
            self.result.expired_leases += 1
        else:
            tally = self.result.pools[reviewer.pool.name]
            tally.reviews += 1
            tally.correct += right
            if done.decided_by is DecidedBy.REVIEWER and case_id in self.arrived:
                self.result.decided.append(self.now - self.arrived[case_id])
                self.result.decided_arrivals.append(self.arrived[case_id])
        self._look(reviewer)

    # -- the server's background work -------------------------------------------------------------------------

    def _escalate(self) -> None:
        self.result.escalations += len(escalate(self.db, self.project))
        self.at(self.now + self.scenario.escalate_every, self._escalate)

    def _deliver_outcomes(self) -> None:
        due: list[outcomes.OutcomeIn] = []
        while self.due_outcomes and self.due_outcomes[0][0] <= self.now:
            _, case_id, truth = self.due_outcomes.popleft()
            due.append(outcomes.OutcomeIn.of("simulation", {"case_id": case_id, "label": truth, "source": "simulated"}))
        if due:
            recorded = outcomes.record(self.db, self.flow, due, ACTOR)
            self.result.outcomes += len(recorded)
            self.known.extend(o.case_id for o in recorded)
        self.at(self.now + OUTCOME_EVERY, self._deliver_outcomes)

    def _sample(self) -> None:
        _cases, queued = totals(self.db)
        busy = sum(r.working is not None for r in self.reviewers)
        self.result.samples.append(Sample(self.now, queued, busy))
        self.at(self.now + self.scenario.duration / SAMPLES, self._sample)

    def _auc_by_week(self) -> list[WeekAuc]:
        """The AUC, week by week of arrival, of the model that served (the run does not retrain) on the cases whose
        outcome came back; each source case is scored once, by the same model intake used."""
        if not self.known:
            return []
        frame = frame_of(self.flow, [case.fields for case in self.source.cases])
        probabilities = self.runtime.model.score(frame).probabilities
        weeks: dict[datetime, list[int]] = {}
        for case_id in self.known:
            weeks.setdefault(week_of(self.result, self.arrived[case_id]), []).append(self.drawn[case_id])
        found = []
        for start, picks in sorted(weeks.items()):
            truth = truth_index(self.flow.labels, [self.source.labels[p] for p in picks])
            scored = probabilities[picks]
            usable = ~np.isnan(scored).any(axis=1)
            found.append(WeekAuc(start, len(picks), auc(scored[usable], truth[usable]) if usable.any() else None))
        return found

    def metrics(self) -> FlowMetrics:
        """The flow's KPIs by the week up to the simulation's end, from the engine's records."""
        return flow_metrics(
            self.db, self.project, self.flow.name, "week", end=self.result.end, points=weeks(self.result)
        )

    def close(self) -> None:
        self.db.dispose()
