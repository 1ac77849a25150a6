"""The charts of a flow's metrics, drawn by matplotlib as SVG: one function per chart, shared by ``signoff report``
(which inlines them) and the web dashboard (which serves each as its own ``image/svg+xml`` response).

Each chart comes with a text alternative that states what it shows and its latest values, so a reader who cannot
see the picture gets the same figures.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from signoff.metrics.estimates import Estimate, Gain
from signoff.metrics.queueing import Staffing
from signoff.metrics.service import FlowMetrics

PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#718096")
FAIRNESS_RATES = ("flag_rate", "approval_rate", "override_rate", "error_rate")


@dataclass(frozen=True)
class Chart:
    """A chart the metrics can draw: ``name`` identifies it (in a URL too), ``alt`` describes it in words."""

    name: str
    title: str
    alt: str


def svg(figure: Figure) -> str:
    """The figure as an <svg> element: no XML prolog, DOCTYPE or metadata (which name outside URLs). It carries
    its own namespace, so the same text is a whole SVG document."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(6.4, 2.8), dpi=100)
    axes = figure.subplots()
    _style(axes)
    return figure, axes


def _style(axes: Any) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e2e8f0", linewidth=0.8)
    axes.set_axisbelow(True)


def _window_axis(metrics: FlowMetrics, axes: Any) -> list[int]:
    """One position per window of the series, labelled with the window's end (the window runs up to it)."""
    xs = list(range(len(metrics.series)))
    span = metrics.end - metrics.start
    axes.set_xticks(xs, [(p.start + span).strftime("%m-%d %H:%M") for p in metrics.series], rotation=45, ha="right")
    axes.set_xlim(-0.6, len(xs) - 0.4)
    return xs


def _line(axes: Any, xs: list[int], values: list[float | None], colour: str, label: str | None = None) -> None:
    axes.plot(xs, [math.nan if v is None else v for v in values], marker="o", color=colour, linewidth=1.6, label=label)


def _trend(metrics: FlowMetrics, attribute: str, title: str, unit: str, share: bool = False) -> str:
    figure, axes = _figure()
    xs = _window_axis(metrics, axes)
    _line(axes, xs, [getattr(p, attribute) for p in metrics.series], PALETTE[0])
    if share:
        axes.set_ylim(0, 1.05)
    else:
        axes.set_ylim(bottom=0)
    axes.set_title(f"{title} per {metrics.window} (gaps: no data)", loc="left", fontsize=11)
    axes.set_ylabel(unit)
    return svg(figure)


def lines_chart(xs: list[float], series: dict[str, list[float]], title: str, xlabel: str, ylabel: str) -> str:
    """Named series over one x axis, as an SVG (the simulation report's queue and load over time)."""
    figure, axes = _figure()
    for (name, values), colour in zip(series.items(), PALETTE, strict=False):
        axes.plot(xs, values, color=colour, linewidth=1.4, label=name)
    axes.set_ylim(bottom=0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if len(series) > 1:
        axes.legend(fontsize=8, frameon=False, loc="upper left")
    axes.set_title(title, loc="left", fontsize=11)
    return svg(figure)


def plan_chart(flag_rates: list[float], staffing: list[Staffing], sla: float, target: float) -> tuple[str, str]:
    """Reviewers needed against the flag rate (Erlang C), as an SVG and its text alternative."""
    figure, axes = _figure()
    xs = [100 * rate for rate in flag_rates]
    axes.plot(xs, [s.reviewers for s in staffing], marker="o", color=PALETTE[0], linewidth=1.6)
    axes.set_xlabel("flag rate (% of cases sent to review)")
    axes.set_ylabel("reviewers")
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"Reviewers to decide {target:.0%} within {sla / 3600:g} h (Erlang C)", loc="left", fontsize=11)
    points = ", ".join(f"{rate:.1%}: {s.reviewers}" for rate, s in zip(flag_rates, staffing, strict=True))
    alt = (
        f"Reviewers needed to decide {target:.0%} of flagged cases within {sla / 3600:g} hours, by flag rate: {points}."
    )
    return svg(figure), alt


def cases_chart(metrics: FlowMetrics) -> str:
    figure, axes = _figure()
    xs = _window_axis(metrics, axes)
    axes.bar(xs, [p.cases for p in metrics.series], color=PALETTE[0])
    axes.set_title(f"Cases per {metrics.window}", loc="left", fontsize=11)
    return svg(figure)


def flag_rate_chart(metrics: FlowMetrics) -> str:
    return _trend(metrics, "flag_rate", "Flag rate", "share", share=True)


def sla_chart(metrics: FlowMetrics) -> str:
    return _trend(metrics, "sla_compliance", "SLA compliance", "share", share=True)


def cost_chart(metrics: FlowMetrics) -> str:
    return _trend(metrics, "cost_per_corrected", "Cost per corrected prediction", metrics.cost.currency)


def turnaround_chart(metrics: FlowMetrics) -> str:
    """The median and the 95th percentile of the time from task creation to completion, per window."""
    figure, axes = _figure()
    xs = _window_axis(metrics, axes)
    _line(axes, xs, [p.turnaround_p50 for p in metrics.series], PALETTE[0], "median")
    _line(axes, xs, [p.turnaround_p95 for p in metrics.series], PALETTE[1], "p95")
    axes.set_ylim(bottom=0)
    axes.set_ylabel("seconds")
    axes.legend(fontsize=8, frameon=False, loc="upper left")
    axes.set_title(f"Turnaround per {metrics.window} (gaps: no data)", loc="left", fontsize=11)
    return svg(figure)


def turnaround_distribution_chart(metrics: FlowMetrics) -> str | None:
    """How long the window's completed tasks took, on a log scale, with the median and p95 marked."""
    turnaround = metrics.turnaround
    if not metrics.turnaround_bins or turnaround is None:
        return None
    figure, axes = _figure()
    bins = metrics.turnaround_bins
    lefts = [b.low for b in bins]
    widths = [max(b.high - b.low, 1e-9) for b in bins]
    axes.bar(lefts, [b.count for b in bins], width=widths, align="edge", color=PALETTE[0], edgecolor="white")
    if len(bins) > 1:
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # 50, 100, 200, 500, ...
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axes.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    for value, colour in ((turnaround.p50, PALETTE[2]), (turnaround.p95, PALETTE[1])):
        axes.axvline(max(value, bins[0].low), color=colour, linewidth=1.4, linestyle="--")
    axes.set_xlabel("seconds from task creation to completion (log scale)")
    axes.set_ylabel("tasks")
    axes.set_title(
        f"Turnaround distribution, last {metrics.window}: median {turnaround.p50:,.0f} s (green), "
        f"p95 {turnaround.p95:,.0f} s (orange)",
        loc="left",
        fontsize=10,
    )
    return svg(figure)


def _interval_point(axes: Any, estimate: Estimate | Gain, y: int, colour: str, text: str) -> None:
    axes.errorbar(
        [estimate.value],
        [y],
        xerr=[[estimate.value - estimate.low], [estimate.high - estimate.value]],
        fmt="o",
        color=colour,
        capsize=6,
        linewidth=2,
    )
    axes.annotate(text, (estimate.value, y), xytext=(0, 9), textcoords="offset points", ha="center", fontsize=8)


def _accuracy_rows(metrics: FlowMetrics) -> list[tuple[str, Estimate]]:
    pairs = (("model (audit)", metrics.accuracy.model), ("human", metrics.accuracy.human))
    return [(name, e) for name, e in pairs if e is not None]


def accuracy_chart(metrics: FlowMetrics) -> str | None:
    """Model accuracy (audit sample) and human accuracy with their 95% intervals, and beside them the gain."""
    rows = _accuracy_rows(metrics)
    if not rows:
        return None
    figure = Figure(figsize=(6.4, 2.8), dpi=100)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1], "wspace": 0.35})
    for axes in (left, right):
        _style(axes)
    for i, (_, estimate) in enumerate(rows):
        _interval_point(left, estimate, i, PALETTE[i], f"{estimate.value:.3f} (n={estimate.n})")
    left.set_yticks(range(len(rows)), [name for name, _ in rows])
    left.set_xlim(0, 1.05)
    left.set_ylim(-0.7, len(rows) - 0.3)
    left.set_title("Accuracy, 95% intervals", loc="left", fontsize=11)
    gain = metrics.accuracy.gain
    right.axvline(0, color="#4a5568", linewidth=1)
    right.set_yticks([])
    right.set_xlim(-1.05, 1.05)
    right.set_ylim(-0.7, 0.7)
    right.set_title("Gain (human - model)", loc="left", fontsize=11)
    if gain is None:
        right.text(0, 0, "needs both\nestimates", ha="center", va="center", fontsize=9, color="#4a5568")
    else:
        _interval_point(right, gain, 0, PALETTE[2], f"{gain.value:+.3f}")
    return svg(figure)


def fairness_chart(metrics: FlowMetrics, attribute: str) -> str | None:
    """Each group's rates this window as bars; the window before as black ticks, so drift shows as a gap."""
    report = metrics.fairness.get(attribute)
    if report is None:
        return None
    before = metrics.fairness_previous.get(attribute)
    names = list(report.groups)
    figure, axes = _figure()
    width = 0.8 / len(FAIRNESS_RATES)
    for j, rate in enumerate(FAIRNESS_RATES):
        xs = [i + j * width for i in range(len(names))]
        values = [getattr(report.groups[n], rate) for n in names]
        axes.bar(xs, [0.0 if v is None else v for v in values], width, label=rate.replace("_", " "), color=PALETTE[j])
        if before is not None:
            old = [getattr(before.groups[n], rate) if n in before.groups else None for n in names]
            points = [(x, v) for x, v in zip(xs, old, strict=True) if v is not None]
            if points:
                axes.scatter(
                    [x for x, _ in points],
                    [v for _, v in points],
                    marker="_",
                    s=140,
                    linewidths=2,
                    color="#1a202c",
                    label=f"previous {metrics.window}" if j == 0 else None,
                    zorder=3,
                )
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names)
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize=8, frameon=False, ncols=5, loc="upper left", bbox_to_anchor=(0, -0.12))
    title = f"Rates by {attribute}, last {metrics.window}"
    if before is not None:
        title += f" (bars) and the {metrics.window} before (ticks)"
    axes.set_title(title, loc="left", fontsize=11)
    return svg(figure)


# ---- the catalogue: which charts these metrics can draw, and their text alternatives -------------------------


def _latest(metrics: FlowMetrics, attribute: str) -> str:
    for point in reversed(metrics.series):
        value = getattr(point, attribute)
        if value is not None:
            return f"{value:.3f}" if isinstance(value, float) else str(value)
    return "no data"


def _interval(estimate: Estimate | Gain | None) -> str:
    if estimate is None:
        return "no data"
    return f"{estimate.value:.3f} (95% interval {estimate.low:.3f} to {estimate.high:.3f})"


def _accuracy_alt(metrics: FlowMetrics) -> str:
    a = metrics.accuracy
    model = "no audit sample" if a.model is None else f"{_interval(a.model)} over {a.model.n} audited cases"
    return (
        f"Accuracy over the last {metrics.window}: model on its random audit sample {model}; "
        f"human on gold tasks and adjudications {_interval(a.human)}; gain {_interval(a.gain)}."
    )


def _fairness_alt(metrics: FlowMetrics, attribute: str) -> str:
    groups = metrics.fairness[attribute].groups
    parts = [
        f"{name}: " + ", ".join(f"{r.replace('_', ' ')} {_latest_value(getattr(g, r))}" for r in FAIRNESS_RATES)
        for name, g in groups.items()
    ]
    moved = len(metrics.fairness_drift.get(attribute, []))
    return (
        f"Rates by {attribute} over the last {metrics.window}, with the {metrics.window} before as ticks. "
        + "; ".join(parts)
        + f". {moved} rate(s) moved beyond the alert threshold."
    )


def _latest_value(value: float | None) -> str:
    return "no data" if value is None else f"{value:.3f}"


def _distribution_alt(metrics: FlowMetrics) -> str:
    shown = ", ".join(f"{b.low:,.0f}-{b.high:,.0f} s: {b.count}" for b in metrics.turnaround_bins if b.count)
    turnaround = metrics.turnaround
    marks = "" if turnaround is None else f" Median {turnaround.p50:,.0f} s, p95 {turnaround.p95:,.0f} s."
    return f"Completed tasks by turnaround over the last {metrics.window}, log-spaced bins: {shown}.{marks}"


def _span(metrics: FlowMetrics) -> str:
    return f"per {metrics.window} over the last {len(metrics.series)} {metrics.window}s"


def catalogue(metrics: FlowMetrics) -> list[Chart]:
    """The charts these metrics can draw, in page order: the trends, the accuracy when there is an estimate, and
    one fairness chart per group attribute with decided cases."""
    span = _span(metrics)
    charts = [
        Chart("cases", "Cases", f"Cases {span}; the latest {metrics.window}: {_latest(metrics, 'cases')}."),
        Chart(
            "flag-rate",
            "Flag rate",
            f"Share of cases sent to review {span}; the latest with data: {_latest(metrics, 'flag_rate')}.",
        ),
        Chart(
            "turnaround",
            "Turnaround",
            f"Median and 95th percentile turnaround in seconds {span}; the latest with data: median "
            f"{_latest(metrics, 'turnaround_p50')}, p95 {_latest(metrics, 'turnaround_p95')}.",
        ),
        Chart(
            "sla",
            "SLA compliance",
            f"Share of review tasks done by their due time {span}; the latest with data: "
            f"{_latest(metrics, 'sla_compliance')}.",
        ),
    ]
    if metrics.turnaround_bins:
        charts.insert(3, Chart("turnaround-distribution", "Turnaround distribution", _distribution_alt(metrics)))
    if _accuracy_rows(metrics):
        charts.append(Chart("accuracy", "Accuracy and gain", _accuracy_alt(metrics)))
    charts.append(
        Chart(
            "cost",
            "Cost per corrected prediction",
            f"Cost per corrected prediction in {metrics.cost.currency} {span}; the latest with data: "
            f"{_latest(metrics, 'cost_per_corrected')}.",
        )
    )
    charts += [
        Chart(f"fairness-{attribute}", f"Rates by {attribute}", _fairness_alt(metrics, attribute))
        for attribute in metrics.fairness
    ]
    return charts


_DRAW: dict[str, Callable[[FlowMetrics], str | None]] = {
    "cases": cases_chart,
    "flag-rate": flag_rate_chart,
    "turnaround": turnaround_chart,
    "turnaround-distribution": turnaround_distribution_chart,
    "sla": sla_chart,
    "accuracy": accuracy_chart,
    "cost": cost_chart,
}


def draw(metrics: FlowMetrics, name: str) -> str | None:
    """The SVG of chart ``name``, or None when these metrics have no such chart."""
    if name.startswith("fairness-"):
        return fairness_chart(metrics, name.removeprefix("fairness-"))
    drawer = _DRAW.get(name)
    return None if drawer is None else drawer(metrics)
