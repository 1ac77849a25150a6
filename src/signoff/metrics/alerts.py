"""Alerts: the flow file's thresholds checked against the last window's metrics; a breach is recorded as an
``alert.raised`` audit event, which the webhooks deliver like any other event.

The same breach is raised at most once per window (an earlier ``alert.raised`` event for the same flow and
check within the window holds it back), so a server checking every minute does not flood the webhooks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from signoff.audit import record
from signoff.config import Flow, Project
from signoff.domain import AuditEvent
from signoff.metrics.service import WINDOWS, FlowMetrics, flow_metrics
from signoff.observe.prometheus import ALERTS_RAISED
from signoff.store import audit as audit_store
from signoff.store import metrics as metric_store
from signoff.store.database import Database


@dataclass(frozen=True)
class Alert:
    """One threshold crossed: which check, the value seen, the threshold, and a sentence saying it."""

    flow: str
    check: str
    value: float
    threshold: float
    message: str
    window: str


def breaches(flow: Flow, metrics: FlowMetrics, audit_lag: float) -> list[Alert]:
    """The thresholds of ``flow.alerts`` that ``metrics`` (and the audit sealing lag, in seconds) cross."""
    spec = flow.alerts
    found: list[Alert] = []

    def add(check: str, value: float, threshold: float, message: str) -> None:
        found.append(Alert(flow.name, check, value, threshold, message, metrics.window))

    enough = metrics.cases >= spec.min_cases
    if spec.flag_rate is not None and enough and metrics.flag_rate is not None:
        low, high = spec.flag_rate.min, spec.flag_rate.max
        if low is not None and metrics.flag_rate < low:
            add("flag_rate_low", metrics.flag_rate, low, f"flag rate {metrics.flag_rate:.3f} is below {low:g}")
        if high is not None and metrics.flag_rate > high:
            add("flag_rate_high", metrics.flag_rate, high, f"flag rate {metrics.flag_rate:.3f} is above {high:g}")
    largest = metrics.drift.largest
    if spec.drift_psi is not None and enough and largest is not None and largest > spec.drift_psi:
        worst = max(
            [(s.psi, name) for name, s in metrics.drift.features.items() if s is not None]
            + ([(metrics.drift.score.stability.psi, "(model score)")] if metrics.drift.score else []),
        )
        add("drift_psi", largest, spec.drift_psi, f"PSI {largest:.3f} on {worst[1]} exceeds {spec.drift_psi:g}")
    sla = metrics.sla.value
    if spec.sla_compliance is not None and sla is not None and sla < spec.sla_compliance:
        add(
            "sla_compliance",
            sla,
            spec.sla_compliance,
            f"SLA compliance {sla:.3f} ({metrics.sla.breached} late) is below {spec.sla_compliance:g}",
        )
    if spec.audit_lag is not None and audit_lag > spec.audit_lag:
        add("audit_lag", audit_lag, spec.audit_lag, f"an audit event has waited {audit_lag:.0f} s to be sealed")
    if spec.fairness_drift is not None:
        for attribute, moves in metrics.fairness_drift.items():
            for move in moves:
                who = f"group {move.group!r} of {attribute}" if move.group is not None else attribute
                add(
                    f"fairness_drift:{attribute}:{move.metric}:{move.group or ''}",
                    abs(move.change),
                    spec.fairness_drift,
                    f"{move.metric} of {who} moved from {move.before:.3f} to {move.after:.3f}",
                )
    return found


def _lag(db: Database) -> float:
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        _, oldest, _ = audit_store.lag(conn)
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def check(db: Database, project: Project, flows: list[str] | None = None, *, raise_events: bool = True) -> list[Alert]:
    """Check every flow (or ``flows``) that has thresholds; record an ``alert.raised`` event for each new breach.
    Returns every breach found, recorded or held back as a repeat."""
    lag = _lag(db)
    found: list[Alert] = []
    for name in flows or list(project.flows):
        flow = project.flow(name)
        spec = flow.alerts
        if not spec.checked:
            continue
        metrics = flow_metrics(db, project, name, spec.window, points=0, drift_threshold=spec.fairness_drift)
        alerts = breaches(flow, metrics, lag)
        found.extend(alerts)
        if raise_events and alerts:
            _raise(db, flow, alerts, metrics.end)
    return found


def _raise(db: Database, flow: Flow, alerts: list[Alert], end: datetime) -> None:
    with db.transaction() as conn:
        since = end - WINDOWS[flow.alerts.window]
        seen = {d.get("check") for d in metric_store.recent_alerts(conn, flow.name, since)}
        fresh = [a for a in alerts if a.check not in seen]
        events = [AuditEvent("alerts", "alert.raised", "flow", flow.name, _data(a)) for a in fresh]
        if events:
            record(db, conn, events)
    if fresh:
        ALERTS_RAISED.labels(flow.name).inc(len(fresh))


def _data(alert: Alert) -> dict[str, Any]:
    return asdict(alert)
