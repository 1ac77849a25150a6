"""The report of a simulation: one self-contained HTML file (charts as inline SVG, each with a text alternative).

It puts what the run measured (waits, queue depth, reviewer load) beside what Erlang C predicts for the same
arrivals and reviewers, and the flow's KPIs week by week as the metrics service reads them from the engine's own
records, on the simulated clock.
"""

from __future__ import annotations

import statistics

from signoff.config import Project
from signoff.metrics import charts, queueing
from signoff.metrics.report import figure, page, summary_rows, table, trend_figures
from signoff.metrics.service import FlowMetrics
from signoff.sim.simulate import Result


def _quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def erlang_prediction(result: Result, sla: float | None) -> queueing.Staffing | None:
    """Erlang C for the run's measured rate of review tasks, when one pool of exponential reviews works the flow:
    the only case M/M/c describes."""
    (pool, *others) = result.scenario.reviewers
    if others or pool.service_time.distribution != "exponential" or not result.sent_to_review:
        return None
    rate = len(result.waits) / result.scenario.duration
    return queueing.staffing(pool.size, rate, pool.service_time.mean, sla or result.scenario.duration)


def measured_rows(result: Result, sla: float | None) -> list[tuple[str, str]]:
    """The run's own measurements, and Erlang C beside them where it applies."""
    waits, decided = result.waits, result.decided
    rows = [
        ("simulated period", f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC"),
        ("cases", f"{result.cases:,}"),
        ("sent to review", f"{result.sent_to_review:,} ({result.sent_to_review / max(result.cases, 1):.1%})"),
        ("review tasks claimed", f"{len(waits):,}"),
    ]
    if waits:
        rows += [
            (
                "wait for a reviewer: mean / p95 (min)",
                f"{statistics.fmean(waits) / 60:.1f} / {_quantile(waits, 0.95) / 60:.1f}",
            ),
            ("share of tasks that waited", f"{sum(w > 0 for w in waits) / len(waits):.1%}"),
        ]
    if decided and sla is not None:
        rows.append(
            (
                f"decided by a reviewer within the SLA ({sla / 3600:g} h)",
                f"{sum(d <= sla for d in decided) / len(decided):.1%}",
            )
        )
    predicted = erlang_prediction(result, sla)
    if predicted is not None:
        mean = "unstable" if predicted.within_sla is None else f"{predicted.mean_wait / 60:.1f}"
        rows += [
            ("Erlang C: mean wait (min)", mean),
            ("Erlang C: share that waits", f"{predicted.wait_probability:.1%}"),
        ]
    rows += [
        ("outcomes recorded", f"{result.outcomes:,}"),
        ("escalations", f"{result.escalations:,}"),
        ("reviews refused (lease lost, task closed)", f"{result.expired_leases:,}"),
        (
            "events / wall time",
            f"{result.events:,} in {result.wall_seconds:.1f} s ({result.events / max(result.wall_seconds, 1e-9):,.0f}"
            " per second)",
        ),
    ]
    return rows


def pool_rows(result: Result) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for pool in result.scenario.reviewers:
        tally = result.pools[pool.name]
        busy = tally.busy_seconds / (pool.size * result.scenario.duration)
        accuracy = "no reviews" if not tally.reviews else f"{tally.correct / tally.reviews:.1%}"
        rows.append((pool.name, str(pool.size), f"{tally.reviews:,}", f"{busy:.1%}", accuracy))
    return rows


def render(result: Result, project: Project, metrics: FlowMetrics) -> str:
    """The whole report; ``metrics`` is the flow's, by the week, at the simulation's end."""
    flow = project.flow(result.scenario.flow)
    spec = flow.queues.get(flow.default_queue)
    sla = result.scenario.sla or (None if spec is None else spec.sla)
    hours = [s.at / 3600 for s in result.samples]
    queue_svg = charts.lines_chart(
        hours,
        {"tasks waiting": [s.queued for s in result.samples], "reviewers at work": [s.busy for s in result.samples]},
        "Queue and reviewers over the simulated time",
        "hours since the start",
        "count",
    )
    peak = max(result.samples, key=lambda s: s.queued) if result.samples else None
    queue_alt = f"Tasks waiting and reviewers at work over {result.scenario.duration / 3600:g} simulated hours; " + (
        f"the queue peaked at {peak.queued} tasks {peak.at / 3600:.1f} hours in." if peak else "no samples."
    )
    body = f"""<h2>What the run measured</h2>
{table(measured_rows(result, sla), ("measure", "value"))}
<p class="note">Waits run from a case's arrival to a reviewer's claim of its task. Erlang C (M/M/c) is shown only
for one pool of reviewers with exponential review times, at the rate of review tasks the run produced.</p>
<h2>Reviewers</h2>
{table(pool_rows(result), ("pool", "reviewers", "reviews", "time at work", "accuracy"))}
<div class="charts">{figure(queue_svg, queue_alt)}</div>
<h2>The flow's KPIs, week by week</h2>
{table(summary_rows(metrics), ("metric (last simulated week)", "value"))}
<div class="charts">{trend_figures(metrics)}</div>
"""
    return page(
        f"Signoff simulation: {flow.name}",
        f"Seed {result.scenario.seed}; the engine itself on a simulated clock",
        body,
    )
