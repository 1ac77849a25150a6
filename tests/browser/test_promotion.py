"""Promotion through the gate in the browser: the owner page lists each candidate with a link to its evidence and
the flow's promotion decisions; the evidence page shows the gate's conditions and both models' figures. Leaves
build/screenshots/owner-promotions.png and owner-evidence.png."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from helpers.promotion import GATE, populate, register
from helpers.web import Site, login, shot
from signoff.errors import PromotionRefused
from signoff.learning import promotion


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
