"""``signoff report``: one self-contained HTML file of a flow's metrics, its charts drawn by matplotlib as inline
SVG. No script, stylesheet, font or image is loaded from anywhere: the file can be mailed or archived as is."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from html import escape
from typing import Any

from matplotlib.figure import Figure

from signoff.metrics.estimates import Estimate
from signoff.metrics.service import FlowMetrics

_PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#718096")


def _svg(figure: Figure) -> str:
    """The figure as an inline <svg> element: no XML prolog, DOCTYPE or metadata (which name outside URLs)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(6.4, 2.8), dpi=100)
    axes = figure.subplots()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e2e8f0", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _window_axis(metrics: FlowMetrics, axes: Any) -> list[int]:
    """One position per window of the series, labelled with the window's end (the window runs up to it)."""
    xs = list(range(len(metrics.series)))
    span = metrics.end - metrics.start
    axes.set_xticks(xs, [(p.start + span).strftime("%m-%d %H:%M") for p in metrics.series], rotation=45, ha="right")
    axes.set_xlim(-0.6, len(xs) - 0.4)
    return xs


def _trend(metrics: FlowMetrics, attribute: str, title: str, unit: str, share: bool = False) -> str:
    figure, axes = _figure()
    xs = _window_axis(metrics, axes)
    values = [getattr(p, attribute) for p in metrics.series]
    axes.plot(xs, [float("nan") if v is None else v for v in values], marker="o", color=_PALETTE[0], linewidth=1.6)
    if share:
        axes.set_ylim(0, 1.05)
    else:
        axes.set_ylim(bottom=0)
    axes.set_title(f"{title} per {metrics.window} (gaps: no data)", loc="left", fontsize=11)
    axes.set_ylabel(unit)
    return _svg(figure)


def _cases_chart(metrics: FlowMetrics) -> str:
    figure, axes = _figure()
    xs = _window_axis(metrics, axes)
    axes.bar(xs, [p.cases for p in metrics.series], color=_PALETTE[0])
    axes.set_title(f"Cases per {metrics.window}", loc="left", fontsize=11)
    return _svg(figure)


def _accuracy_chart(metrics: FlowMetrics) -> str | None:
    rows = [
        (name, e) for name, e in (("model (audit)", metrics.accuracy.model), ("human", metrics.accuracy.human)) if e
    ]
    if not rows:
        return None
    figure, axes = _figure()
    for i, (_, estimate) in enumerate(rows):
        axes.errorbar(
            [estimate.value],
            [i],
            xerr=[[estimate.value - estimate.low], [estimate.high - estimate.value]],
            fmt="o",
            color=_PALETTE[i],
            capsize=6,
            linewidth=2,
        )
        axes.annotate(
            f"{estimate.value:.3f} (n={estimate.n})", (estimate.value, i), xytext=(8, 8), textcoords="offset points"
        )
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.set_xlim(0, 1.05)
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.set_title("Accuracy with 95% intervals", loc="left", fontsize=11)
    return _svg(figure)


def _fairness_chart(metrics: FlowMetrics, attribute: str) -> str:
    report = metrics.fairness[attribute]
    names = list(report.groups)
    rates = ("flag_rate", "approval_rate", "override_rate", "error_rate")
    figure, axes = _figure()
    width = 0.8 / len(rates)
    for j, rate in enumerate(rates):
        values = [getattr(report.groups[n], rate) for n in names]
        axes.bar(
            [i + j * width for i in range(len(names))],
            [0.0 if v is None else v for v in values],
            width,
            label=rate.replace("_", " "),
            color=_PALETTE[j],
        )
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names)
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize=8, frameon=False, ncols=4, loc="upper left", bbox_to_anchor=(0, -0.12))
    axes.set_title(f"Rates by {attribute}", loc="left", fontsize=11)
    return _svg(figure)


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


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a202c;max-width:1100px;margin:2rem auto;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #e2e8f0}
.muted{color:#718096} table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .8rem;text-align:left}
tr:nth-child(even){background:#f7fafc}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1rem}
figure{margin:0} figure svg{width:100%;height:auto} figure.single{max-width:560px} .note{font-size:.9rem;color:#4a5568}
"""


def _table(rows: Sequence[Sequence[str]], head: tuple[str, ...] | None = None) -> str:
    header = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" if head else ""
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{header}{body}</table>"


def render(metrics: FlowMetrics) -> str:
    """The whole report as one HTML document."""
    charts = [
        _cases_chart(metrics),
        _trend(metrics, "flag_rate", "Flag rate", "share", share=True),
        _trend(metrics, "sla_compliance", "SLA compliance", "share", share=True),
        _trend(metrics, "turnaround_p95", "Turnaround p95", "seconds"),
    ]
    accuracy = _accuracy_chart(metrics)
    if accuracy is not None:
        charts.append(accuracy)
    fairness_html = ""
    for attribute, report in metrics.fairness.items():
        rows = [
            (
                name,
                str(g.n),
                _number(g.flag_rate),
                _number(g.approval_rate),
                _number(g.override_rate),
                _number(g.error_rate),
            )
            for name, g in report.groups.items()
        ]
        moves = metrics.fairness_drift.get(attribute, [])
        fairness_html += (
            f"<h3>{escape(attribute)}</h3>"
            + _table(rows, ("group", "cases", "flag rate", "approval rate", "override rate", "error rate"))
            + f"<p>demographic parity difference {_number(report.demographic_parity_difference)}, "
            f"equalized odds difference {_number(report.equalized_odds_difference)}; "
            f"{len(moves)} rate(s) moved beyond the threshold since the previous {escape(metrics.window)}.</p>"
            + f'<figure class="single">{_fairness_chart(metrics, attribute)}</figure>'
        )
    drift_rows: list[tuple[str, str, str]] = [
        (name, "no data" if s is None else f"{s.psi:.3f}", "" if s is None else str(s.level))
        for name, s in metrics.drift.features.items()
    ]
    if metrics.drift.score is not None:
        score = metrics.drift.score
        drift_rows.append(
            ("(model score)", f"{score.stability.psi:.3f}", f"{score.stability.level}, KS {score.ks:.3f}")
        )
    figures = "".join(f"<figure>{svg}</figure>" for svg in charts)
    title = f"Signoff report: {metrics.flow}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">Last {escape(metrics.window)}: {metrics.start:%Y-%m-%d %H:%M} to {metrics.end:%Y-%m-%d %H:%M} UTC</p>
<h2>Key figures</h2>
{_table(summary_rows(metrics), ("metric", "value"))}
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
{_table(drift_rows, ("feature", "PSI", "level"))}
</body></html>
"""
