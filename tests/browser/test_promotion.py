"""Promotion through the gate in the browser: the owner page lists each candidate with a link to its evidence and
the flow's promotion decisions; the evidence page shows the gate's conditions and both models' figures; a canary
shows its share and running evidence until it ends. Leaves build/screenshots/owner-promotions.png,
owner-evidence.png and owner-canary.png."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from helpers.promotion import GATE, populate, register
from helpers.web import Site, login, shot
from signoff.errors import PromotionRefused
from signoff.learning import canary, promotion


@pytest.mark.parametrize("site", [{"learning": {"holdout": 0.45, "gate": GATE}}], indirect=True)
def test_the_owner_sees_a_refused_candidate_its_evidence_and_the_decision(site: Site, context: Any) -> None:
    populate(site.db, site.project, 500)
    flow = site.project.flow("test-flow")
    worse, better = register(site.db, site.project, "worse"), register(site.db, site.project, "better")
    with pytest.raises(PromotionRefused):
        promotion.promote(site.db, site.project, flow, worse, actor="owen", reason="worth a try")

    page = context.new_page()
    login(page, site, "owen")
    expect(page).to_have_url(site.url + "/owner")
    decisions = page.get_by_role("table", name="Candidates and promotion decisions")
    row = decisions.get_by_role("row").filter(has_text=worse)
    expect(row).to_contain_text("refused")
    expect(row).to_contain_text("worth a try")
    expect(row.get_by_role("listitem").first).to_contain_text("gain: AUC 0.8554 -> 0.6371")
    expect(page.get_by_role("link", name=f"Evidence for {better}")).to_be_visible()
    shot(page, "owner-promotions")

    page.get_by_role("link", name=f"Evidence for {worse}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Evidence for {worse}")
    expect(page.locator("main")).to_contain_text("the gate refuses")
    expect(page.get_by_role("heading", name="Failed")).to_be_visible()
    held = page.get_by_role("table", name="Both models on the cases neither trained on: what the gate judges")
    auc = held.get_by_role("row").filter(has=page.get_by_role("rowheader", name="AUC", exact=True))
    expect(auc.get_by_role("cell")).to_have_text(["0.8554", "0.6371"])
    shot(page, "owner-evidence")


@pytest.mark.parametrize(
    "site", [{"learning": {"holdout": 0.45, "gate": GATE, "canary": {"min_evidence": 20}}}], indirect=True
)
def test_the_owner_sees_a_canary_its_share_and_evidence_then_its_end(site: Site, context: Any) -> None:
    populate(site.db, site.project, 200)
    flow = site.project.flow("test-flow")
    better = register(site.db, site.project, "better")
    canary.canary(site.db, site.project, flow, better, actor="owen", reason="try it live", share=0.5, sticky_by="group")
    deadline, batch = time.monotonic() + 20, 0
    while (found := canary.running(site.db, flow)) is None or found.cases == 0:  # the server follows within 1 s
        assert time.monotonic() < deadline, "the server never routed a case by the canary"
        batch += 1
        site.submit([{"external_id": f"live-{batch}-{g}", "fields": {"score": 0.9, "group": g}} for g in "ab"])
        time.sleep(0.5)

    page = context.new_page()
    login(page, site, "owen")
    heading = page.get_by_role("heading", name=f"Canary {better}")
    expect(heading).to_be_visible()
    facts = page.get_by_role("definition")
    expect(facts.filter(has_text="routes 50.0% of the cases")).to_contain_text("kept together by group")
    expect(facts.filter(has_text="needed to judge a canary")).to_contain_text("20 needed")
    expect(facts.filter(has_text=f"{better}: no labelled case yet")).to_be_visible()
    decisions = page.get_by_role("table", name="Candidates and promotion decisions")
    expect(decisions.get_by_role("row").filter(has_text="canary started")).to_contain_text("try it live")
    shot(page, "owner-canary")

    canary.rollback(site.db, site.project, flow, None, actor="owen", reason="seen enough")
    page.reload()
    expect(page.get_by_text("No shadow or canary: the champion scores every case")).to_be_visible()
    ended = decisions.get_by_role("row").filter(has_text="seen enough")
    expect(ended).to_contain_text(f"rolled back from {better}")
