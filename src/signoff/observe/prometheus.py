"""Prometheus exposition: gauges and counters read from the store at scrape time, plus histograms observed in the
services.

Store-derived (global: every server process reports the same numbers, so a scrape through any of them is right):
cases, routes by verdict, queue depth and the oldest open task's age, lease expiries, reviews, decisions by who
decided, tasks that breached their SLA, and the audit chain's sealing lag. In-process (each process counts its
own work): the intake latency and review turnaround histograms and the alerts raised. With several server
processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder shared by them (prometheus_client's multiprocess
mode) so that every scrape adds up all processes' histograms.

Labels are the flow, the queue, and small fixed sets (verdict, decided_by): their number is bounded by the
project file, never by the data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from signoff.config import Project
from signoff.store import audit as audit_store
from signoff.store import metrics as metric_store
from signoff.store import rollups
from signoff.store.database import Database, as_utc

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Turnaround spans seconds to days: a review done at once, within the hour, or left over a weekend.
TURNAROUND_BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400)

INTAKE_SECONDS = Histogram(
    "signoff_intake_seconds",
    "Time to validate, score, route and record one intake request (this process).",
    ["flow"],
    registry=None,
)
TURNAROUND_SECONDS = Histogram(
    "signoff_review_turnaround_seconds",
    "Seconds from task creation to completion, observed when a review is submitted (this process).",
    ["flow", "queue"],
    buckets=TURNAROUND_BUCKETS,
    registry=None,
)
ALERTS_RAISED = Counter(
    "signoff_alerts_raised",
    "Alerts raised by threshold checks run in this process (each is also an alert.raised audit event).",
    ["flow"],
    registry=None,
)
SHADOW_UNSCORED = Counter(
    "signoff_shadow_unscored",
    "Cases a version scoring beside the one that routes them (a shadow, or the champion beside a canary) could not "
    "score in this process; intake goes on without those scores.",
    ["flow", "version"],
    registry=None,
)
IN_PROCESS = (INTAKE_SECONDS, TURNAROUND_SECONDS, ALERTS_RAISED, SHADOW_UNSCORED)


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def _family(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    doc: str,
    label: str,
    rows: Iterable[tuple[Any, ...]],
) -> Metric:
    """A family labelled by flow and ``label`` from grouped counts (flow, label value, n)."""
    family = kind(name, doc, labels=["flow", label])
    for flow, value, n in rows:
        family.add_metric([str(flow), str(value)], int(n))
    return family


class StoreCollector(Collector):
    """Reads the live numbers from the store at every scrape (a handful of grouped counts)."""

    def __init__(self, db: Database, project: Project) -> None:
        self.db = db
        self.project = project

    def describe(self) -> Iterable[Metric]:
        return []  # not known before a scrape; keeps registration from reading the store

    def collect(self) -> Iterator[Metric]:
        with self.db.transaction(write=False) as conn:
            now = self.db.now(conn)
            routes, by_model = rollups.totals(conn, self.project.flows)
            open_tasks = metric_store.open_tasks(conn)
            expiries = metric_store.lease_expiries(conn)
            reviews = metric_store.reviews_by_queue(conn)
            decisions = metric_store.decisions_not_by_model(conn) + [(f, "model", n) for f, n in by_model.items()]
            breaches = metric_store.sla_breaches(conn, now)
            unsealed, oldest_unsealed, last_seal = audit_store.lag(conn)

        queues = [(f, q) for f, flow in self.project.flows.items() for q in flow.queues]

        family = CounterMetricFamily("signoff_cases", "Cases recorded (gold cases aside).", labels=["flow"])
        counted = dict.fromkeys(self.project.flows, 0)
        for flow, _, n in routes:
            counted[flow] = counted.get(flow, 0) + n
        for flow, n in counted.items():
            family.add_metric([flow], n)
        yield family

        yield _family(
            CounterMetricFamily, "signoff_routes", "Routing verdicts: auto, review or audit.", "verdict", routes
        )

        depth = GaugeMetricFamily("signoff_queue_depth", "Open tasks (queued or leased).", labels=["flow", "queue"])
        age = GaugeMetricFamily(
            "signoff_queue_oldest_age_seconds", "Age of the oldest open task; 0 when none.", labels=["flow", "queue"]
        )
        found = {(str(f), str(q)): (int(n), oldest) for f, q, n, oldest in open_tasks}
        for key in dict.fromkeys(queues) | dict.fromkeys(found):
            n, oldest = found.get(key, (0, None))
            depth.add_metric(list(key), n)
            age.add_metric(list(key), _age(now, as_utc(oldest) if oldest is not None else None))
        yield depth
        yield age

        yield _family(
            CounterMetricFamily,
            "signoff_lease_expiries",
            "Leases that ran out before their reviewer finished.",
            "queue",
            expiries,
        )
        yield _family(
            CounterMetricFamily,
            "signoff_reviews",
            "Reviews submitted (gold and audit answers included).",
            "queue",
            reviews,
        )
        yield _family(
            CounterMetricFamily, "signoff_decisions", "Final decisions by who made them.", "decided_by", decisions
        )
        yield _family(
            GaugeMetricFamily,
            "signoff_sla_breached_tasks",
            "Tasks completed after their due time or still open past it.",
            "queue",
            breaches,
        )

        yield GaugeMetricFamily(
            "signoff_audit_unsealed_events", "Audit events not yet sealed into the chain (near its top).", unsealed
        )
        yield GaugeMetricFamily(
            "signoff_audit_sealing_lag_seconds",
            "Age of the oldest unsealed audit event; 0 when all are sealed.",
            _age(now, oldest_unsealed),
        )
        yield GaugeMetricFamily(
            "signoff_audit_last_seal_age_seconds",
            "Seconds since the chain last grew (large while events wait means the sealer is stuck).",
            _age(now, last_seal),
        )


def registry_for(db: Database, project: Project) -> CollectorRegistry:
    """The registry a server's /metrics exposes: the store collector plus this process's (or, in multiprocess
    mode, every process's) histograms and counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db, project))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # the library is untyped here
    else:
        for metric in IN_PROCESS:
            registry.register(metric)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
