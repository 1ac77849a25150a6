"""The model owner's pages on the scripted run (tests/helpers/scripted.py): the policy and model history on
/owner, and a flow's metrics dashboard whose charts are SVG images served beside the page under its strict
Content-Security-Policy. Leaves docs/screenshots/owner-versions.png and owner-dashboard.png."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from helpers.web import Site, login, shot

CHARTS = ["cases", "flag-rate", "turnaround", "turnaround-distribution", "sla", "accuracy", "cost", "fairness-group"]


def _charts_loaded(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.chart img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    found: list[dict[str, Any]] = page.eval_on_selector_all(
        "figure.chart img",
        "images => images.map(i => ({src: i.getAttribute('src'), alt: i.alt, width: i.naturalWidth,"
        " shown: i.getBoundingClientRect().width}))",
    )
    return found


def test_the_owner_reads_the_history_and_the_dashboard_of_a_flow(scripted_site: Site, context: Any) -> None:
    site = scripted_site
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security" in message.text else None)
    login(page, site, "owen")
    expect(page).to_have_url(site.url + "/owner")
    expect(page.get_by_text("not available")).to_have_count(0)

    models = page.get_by_role("table", name="Model versions")
    champion = models.get_by_role("row").filter(has_text="test-1")
    expect(champion).to_contain_text("champion, serving")
    cells = champion.get_by_role("cell")  # the version itself is the row's header
    for column, text in (
        (0, "champion, serving"),
        (3, "the flow file"),
        (4, "none"),
        (5, "6"),
        (6, "50.0%"),
        (7, "66.7% (66.7–66.7%, n=3)"),
    ):
        expect(cells.nth(column)).to_have_text(text)
    expect(page.get_by_text("No shadow or canary: the champion scores every case")).to_be_visible()
    policies = page.get_by_role("table", name="Policy versions")
    current = policies.get_by_role("row").filter(has_text="current")
    expect(current).to_contain_text("uncertain (band)")
    expect(current.get_by_role("cell").nth(3)).to_have_text("6")
    shot(page, "owner-versions")

    page.get_by_role("link", name="Metrics dashboard of test-flow").click()
    expect(page).to_have_url(site.url + "/owner/flows/test-flow")
    expect(page.locator("h1")).to_have_text("Metrics of test-flow")
    expect(page.get_by_role("navigation", name="Pages").get_by_role("link", name="Flows and models")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("row", name="flag rate 0.500 (3 flagged)")).to_be_visible()
    charts = _charts_loaded(page)
    assert [c["src"].split("/charts/")[1].split(".svg")[0] for c in charts] == CHARTS
    for chart in charts:
        assert chart["width"] > 200 and chart["shown"] > 300, chart
        assert len(chart["alt"]) > 40, chart
        response = page.request.get(site.url + chart["src"])
        assert response.status == 200 and response.headers["content-type"] == "image/svg+xml"
        assert response.text().startswith("<svg") and "<script" not in response.text()
    accuracy = next(c for c in charts if "/accuracy.svg" in c["src"])
    assert "0.667" in accuracy["alt"] and "3 audited cases" in accuracy["alt"]
    spread = next(c for c in charts if "/turnaround-distribution.svg" in c["src"])
    assert "Median 210 s, p95 525 s" in spread["alt"] and "60-" in spread["alt"]
    shot(page, "owner-dashboard")

    page.get_by_role("navigation", name="Time window").get_by_role("link", name="Last week").click()
    expect(page).to_have_url(site.url + "/owner/flows/test-flow?window=week")
    expect(page.get_by_role("heading", name="Key figures, last week")).to_be_visible()
    assert len(_charts_loaded(page)) == len(CHARTS)
    assert refused == []  # nothing was blocked by the page's policy

    wrong = page.goto(site.url + "/owner/flows/test-flow?window=month")
    assert wrong is not None and wrong.status == 422
    expect(page.get_by_role("alert")).to_contain_text("window: must be one of hour, day, week")
    missing = page.goto(site.url + "/owner/flows/no-such-flow")
    assert missing is not None and missing.status == 404
    assert page.request.get(site.url + "/owner/flows/test-flow/charts/nothing.svg").status == 404
    assert page.request.get(site.url + "/owner/flows/test-flow/charts/cases.svg?end=yesterday").status == 422


def test_a_reviewer_cannot_open_the_owner_pages(scripted_site: Site, context: Any) -> None:
    page = context.new_page()
    login(page, scripted_site, "bob", "/account")
    for path in ("/owner", "/owner/flows/test-flow", "/owner/flows/test-flow/charts/cases.svg"):
        response = page.goto(scripted_site.url + path)
        assert response is not None and response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not for your role")
