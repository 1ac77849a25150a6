"""`signoff simulate`'s report in Chromium: it opens with no request beyond itself, every chart renders, and each
one's text alternative is what the accessibility tree names it by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.simulation import reviewed_project, scenario, simulated
from helpers.web import shot


def test_the_simulation_report_opens_and_its_charts_have_text_alternatives(tmp_path: Path, browser: Any) -> None:
    project = reviewed_project(tmp_path, sla=3600)
    _, html = simulated(tmp_path, project, scenario(2, 9, 8))
    report = tmp_path / "report.html"
    report.write_text(html, encoding="utf-8")

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    assert page.title() == "Signoff simulation: test-flow"
    assert requests == [report.as_uri()]

    figures = page.locator("figure")
    assert figures.count() >= 3  # the queue over time and the weekly KPIs
    for i in range(figures.count()):
        figure = figures.nth(i)
        name = figure.get_attribute("aria-label")
        assert name and len(name) > 30
        assert page.get_by_role("img", name=name, exact=True).count() >= 1  # what a screen reader announces
        box = figure.locator("svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
    assert page.get_by_role("img", name="Tasks waiting and reviewers at work", exact=False).count() == 1
    assert page.get_by_role("cell", name="review tasks claimed").is_visible()

    shot(page, "simulation-report")
    page.close()
