"""The model owner's metrics dashboard: the values its page shows and the charts it loads.

The page pins the end of its window and puts it in every chart's URL, so the charts and the table always show the
same window even when a case arrives between requests. A page and its charts are read once: the metrics for a
(flow, window, end) are kept for the few seconds the browser needs to fetch the charts.

The charts are matplotlib SVG, which styles itself inline. The page's policy forbids inline styles, so each chart
is its own ``image/svg+xml`` response shown with ``<img>``: an image runs no script and its styles stay inside it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from signoff.config import Project
from signoff.database import Database
from signoff.errors import InvalidInput, Problem
from signoff.metrics import charts, report
from signoff.metrics.service import WINDOWS, FlowMetrics, flow_metrics, window_or_error

POINTS = 12  # windows in each trend
KEEP_SECONDS = 120.0
KEEP_ENTRIES = 16

# The chart responses: a picture, never a document that could run anything, and never cached.
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def end_or_error(end: str | None) -> datetime | None:
    """The pinned end of a chart's window: an ISO time with its offset, or None for now."""
    if end is None:
        return None
    try:
        value = datetime.fromisoformat(end[:40])
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidInput([Problem("end", "must be an ISO 8601 time with its UTC offset")])
    return value


def _three(value: float | None) -> str:
    return "no data" if value is None else f"{value:.3f}"


class Dashboard:
    """Reads a flow's metrics for the dashboard, keeping each reading briefly for the page's charts."""

    def __init__(self, project: Project, db: Database) -> None:
        self.project = project
        self.db = db
        self._kept: OrderedDict[tuple[str, str, datetime], tuple[float, FlowMetrics]] = OrderedDict()
        self._lock = threading.Lock()  # one reading at a time: the charts of a page arrive together

    def metrics(self, flow: str, window: str, end: datetime | None = None) -> FlowMetrics:
        with self._lock:
            now = time.monotonic()
            for key in [k for k, (at, _) in self._kept.items() if now - at > KEEP_SECONDS]:
                del self._kept[key]
            if end is not None and (flow, window, end) in self._kept:
                return self._kept[(flow, window, end)][1]
            found = flow_metrics(self.db, self.project, flow, window, end=end, points=POINTS)
            self._kept[(flow, window, found.end)] = (now, found)
            while len(self._kept) > KEEP_ENTRIES:
                self._kept.popitem(last=False)
            return found

    def page(self, flow: str, window: str) -> dict[str, Any]:
        """The values of the dashboard page for the last ``window`` of ``flow``."""
        found = self.metrics(flow, window)
        base = f"/owner/flows/{quote(flow, safe='')}/charts"
        query = urlencode({"window": window, "end": found.end.isoformat()})
        drawn = {
            chart.name: {"src": f"{base}/{chart.name}.svg?{query}", "title": chart.title, "alt": chart.alt}
            for chart in charts.catalogue(found)
        }
        return {
            "metrics": found,
            "windows": list(WINDOWS),
            "summary": report.summary_rows(found),
            "charts": [chart for name, chart in drawn.items() if not name.startswith("fairness-")],
            "fairness": [
                {
                    "attribute": attribute,
                    "rows": report.fairness_rows(found, attribute),
                    "moved": report.movement_rows(found, attribute),
                    "parity": _three(found.fairness[attribute].demographic_parity_difference),
                    "odds": _three(found.fairness[attribute].equalized_odds_difference),
                    "chart": drawn[f"fairness-{attribute}"],
                }
                for attribute in found.fairness
            ],
            "fairness_head": report.FAIRNESS_HEAD,
            "drift_head": report.DRIFT_HEAD,
            "drift": report.drift_rows(found),
        }

    def chart(self, flow: str, window: str, end: datetime | None, name: str) -> str | None:
        return charts.draw(self.metrics(flow, window, end), name)


__all__ = ["SVG_HEADERS", "Dashboard", "end_or_error", "window_or_error"]
