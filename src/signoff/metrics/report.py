"""``signoff report``: one self-contained HTML file of a flow's metrics, its charts drawn by matplotlib as inline
SVG. No script, stylesheet, font or image is loaded from anywhere: the file can be mailed or archived as is."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from signoff.metrics import charts
from signoff.metrics.estimates import Estimate
from signoff.metrics.queueing import Staffing
from signoff.metrics.service import FlowMetrics


def _number(value: float | None, digits: int = 3) -> str:
    return "no data" if value is None else f"{value:.{digits}f}"


def _interval(estimate: Estimate | None) -> str:
    if estimate is None:
        return "no data"
    return f"{estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}] n={estimate.n}"


def summary_rows(metrics: FlowMetrics) -> list[tuple[str, str]]:
    """The headline KPIs as (name, value) text: the table of ``signoff metrics`` and of the report."""
    t = metrics.turnaround
    gain = metrics.accuracy.gain
    cost = metrics.cost
    return [
        ("cases", str(metrics.cases)),
        ("flag rate", f"{_number(metrics.flag_rate)} ({metrics.flagged} flagged)"),
        *[(f"  by {reason}", f"{share:.3f}") for reason, share in metrics.flag_rate_by_reason.items()],
        ("turnaround mean / p50 / p95 (s)", "no data" if t is None else f"{t.mean:.0f} / {t.p50:.0f} / {t.p95:.0f}"),
        (
            "SLA compliance",
            f"{_number(metrics.sla.value)} ({metrics.sla.met} met, {metrics.sla.breached} breached, "
            f"{metrics.sla.pending} pending)",
        ),
        ("model accuracy (audit sample)", _interval(metrics.accuracy.model)),
        ("human accuracy (gold, adjudication)", _interval(metrics.accuracy.human)),
        (
            "accuracy gain (human - model)",
            "no data" if gain is None else f"{gain.value:+.3f} [{gain.low:+.3f}, {gain.high:+.3f}]",
        ),
        (
            "cost per corrected prediction",
            ("no data" if cost.per_corrected is None else f"{cost.per_corrected:.2f} {cost.currency}")
            + f" ({cost.corrected} corrected, "
            f"labour {cost.labour:.2f} + system {cost.system:.2f})",
        ),
        (
            "reviewer agreement (Krippendorff's alpha)",
            f"{_number(metrics.reviewers.alpha)} ({metrics.reviewers.units} cases)",
        ),
        ("gold accuracy", _interval(metrics.reviewers.gold)),
        ("largest PSI (features, score)", _number(metrics.drift.largest)),
    ]


# The fairness counts are taken when a case is decided: a case still waiting for review is in no group yet, so
# the group's flag rate is that of its decided cases, not the window's overall flag rate; the heads say so.
FAIRNESS_HEAD = ("group", "decided cases", "flag rate (of decided)", "approval rate", "override rate", "error rate")
DRIFT_HEAD = ("feature", "PSI", "level")


def fairness_rows(metrics: FlowMetrics, attribute: str) -> list[tuple[str, ...]]:
    """One row of text per group of ``attribute``, in the columns of ``FAIRNESS_HEAD``."""
    return [
        (
            name,
            str(g.n),
            _number(g.flag_rate),
            _number(g.approval_rate),
            _number(g.override_rate),
            _number(g.error_rate),
        )
        for name, g in metrics.fairness[attribute].groups.items()
    ]


def movement_rows(metrics: FlowMetrics, attribute: str) -> list[tuple[str, ...]]:
    """The rates of ``attribute`` that moved beyond the alert threshold since the window before: group, metric,
    before, now, change."""
    return [
        (m.group or "(gap)", m.metric.replace("_", " "), f"{m.before:.3f}", f"{m.after:.3f}", f"{m.change:+.3f}")
        for m in metrics.fairness_drift.get(attribute, [])
    ]


def drift_rows(metrics: FlowMetrics) -> list[tuple[str, ...]]:
    """PSI per feature and of the model's score against the reference, in the columns of ``DRIFT_HEAD``."""
    rows: list[tuple[str, ...]] = [
        (name, "no data" if s is None else f"{s.psi:.3f}", "" if s is None else str(s.level))
        for name, s in metrics.drift.features.items()
    ]
    if metrics.drift.score is not None:
        score = metrics.drift.score
        rows.append(("(model score)", f"{score.stability.psi:.3f}", f"{score.stability.level}, KS {score.ks:.3f}"))
    return rows


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a202c;max-width:1100px;margin:2rem auto;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #e2e8f0}
.muted{color:#718096} table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .8rem;text-align:left}
tr:nth-child(even){background:#f7fafc}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1rem}
figure{margin:0} figure svg{width:100%;height:auto} figure.single{max-width:560px} .note{font-size:.9rem;color:#4a5568}
"""


def table(rows: Sequence[Sequence[str]], head: tuple[str, ...] | None = None) -> str:
    header = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" if head else ""
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{header}{body}</table>"


def render(metrics: FlowMetrics) -> str:
    """The whole report as one HTML document."""
    fairness_html = ""
    for attribute, report in metrics.fairness.items():
        moves = metrics.fairness_drift.get(attribute, [])
        fairness_html += (
            f"<h3>{escape(attribute)}</h3>"
            + table(fairness_rows(metrics, attribute), FAIRNESS_HEAD)
            + f"<p>demographic parity difference {_number(report.demographic_parity_difference)}, "
            f"equalized odds difference {_number(report.equalized_odds_difference)}; "
            f"{len(moves)} rate(s) moved beyond the threshold since the previous {escape(metrics.window)}.</p>"
            + f'<figure class="single">{charts.fairness_chart(metrics, attribute) or ""}</figure>'
        )
    figures = trend_figures(metrics)
    span = f"Last {metrics.window}: {metrics.start:%Y-%m-%d %H:%M} to {metrics.end:%Y-%m-%d %H:%M} UTC"
    return page(
        f"Signoff report: {metrics.flow}",
        span,
        f"""<h2>Key figures</h2>
{table(summary_rows(metrics), ("metric", "value"))}
<p class="note">The model's accuracy on the cases it decides alone is estimated from the random audit sample only,
weighted by each case's inclusion probability (95% interval). Agreement between reviewers and the model on flagged
cases is not accuracy and is not shown as such. Error rates by group use audit labels only.</p>
<h2>Trends</h2>
<div class="charts">{figures}</div>
<h2>Fairness</h2>
{fairness_html or "<p>No decided cases with group attributes in this window.</p>"}
<h2>Drift</h2>
<p>Reference: {escape(metrics.drift.reference)}.
PSI below 0.1 is stable, 0.1 to 0.25 moderate, above 0.25 significant.</p>
{table(drift_rows(metrics), DRIFT_HEAD)}
""",
    )


def trend_figures(metrics: FlowMetrics) -> str:
    """The metrics' trend charts (all but fairness), each a figure with its text alternative."""
    trends = [c for c in charts.catalogue(metrics) if not c.name.startswith("fairness-")]
    drawn = [(chart, charts.draw(metrics, chart.name)) for chart in trends]
    return "".join(figure(svg, chart.alt) for chart, svg in drawn if svg)


def figure(svg: str, alt: str) -> str:
    """A chart in a page, its text alternative as the figure's accessible name."""
    return f'<figure role="img" aria-label="{escape(alt)}">{svg}</figure>'


def page(title: str, subtitle: str, body: str) -> str:
    """A whole self-contained HTML document: the reports' style, a title, a line under it, and ``body``."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">{escape(subtitle)}</p>
{body}</body></html>
"""


PLAN_HEAD = (
    "flag rate",
    "flagged per hour",
    "load (erlangs)",
    "reviewers",
    "utilisation",
    "P(wait)",
    "mean wait (min)",
    "decided within SLA",
)


def plan_rows(flag_rates: Sequence[float], staffing: Sequence[Staffing]) -> list[tuple[str, ...]]:
    """One row per flag rate, in the columns of ``PLAN_HEAD``: ``signoff plan``'s table and page."""
    return [
        (
            f"{rate:.1%}",
            f"{s.arrival_rate * 3600:,.1f}",
            f"{s.load:.2f}",
            str(s.reviewers),
            f"{s.utilisation:.1%}",
            f"{s.wait_probability:.3f}",
            f"{s.mean_wait / 60:.1f}",
            "n/a" if s.within_sla is None else f"{s.within_sla:.1%}",
        )
        for rate, s in zip(flag_rates, staffing, strict=True)
    ]


def render_plan(
    flow: str, arrivals: float, flag_rates: list[float], staffing: list[Staffing], sla: float, target: float
) -> str:
    """``signoff plan --output``: the staffing table and its chart as one HTML document."""
    chart, alt = charts.plan_chart(flag_rates, staffing, sla, target)
    service = staffing[0].service_time if staffing else 0.0
    return page(
        f"Signoff plan: {flow}",
        f"{arrivals * 3600:,.0f} cases per hour, reviews of {service / 60:g} min on average, "
        f"{target:.0%} decided within {sla / 3600:g} h",
        table(plan_rows(flag_rates, staffing), PLAN_HEAD)
        + '<div class="charts">'
        + figure(chart, alt)
        + "</div>"
        + """<p class="note">Erlang C (M/M/c): cases arrive at random at a steady rate, reviews take an exponential
time, every reviewer works the one queue, first come first served, and nobody gives up. Shifts, fatigue, priorities
and consensus are beyond it: <code>signoff simulate</code> runs the engine itself for those.</p>
""",
    )
