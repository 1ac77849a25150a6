"""`signoff report` in Chromium: the file opens with no request beyond itself and every chart renders (an <svg>
with drawn paths and a real size). Leaves a screenshot, report.png (see helpers.web.shot).

Uses the session's one browser (tests/browser/conftest.py): a second Playwright in the same process cannot start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.scripted import scripted_project, scripted_run
from helpers.web import shot
from signoff.metrics.report import render
from signoff.metrics.service import flow_metrics
from signoff.store.database import Database


def test_the_report_opens_offline_and_its_charts_render(sqlite_url: str, tmp_path: Path, browser: Any) -> None:
    db = Database(sqlite_url)
    try:
        project = scripted_project(db, tmp_path)
        scripted_run(db, project)
        report = tmp_path / "report.html"
        report.write_text(render(flow_metrics(db, project, "test-flow", "day", points=7)), encoding="utf-8")
    finally:
        db.dispose()

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    assert page.title() == "Signoff report: test-flow"
    assert requests == [report.as_uri()]  # nothing else is fetched

    charts = page.locator("figure svg")
    assert charts.count() >= 6  # cases, flag rate, SLA, turnaround, accuracy, fairness by group
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        assert chart.locator("path").count() > 5
    assert page.get_by_text("model accuracy (audit sample)").is_visible()
    assert page.get_by_role("cell", name="0.500 (3 flagged)").is_visible()

    shot(page, "report")
    page.close()
