"""The model registry in the browser: after a candidate trained on a recorded training set is promoted, the
owner page shows it serving with what it was trained on and its held-out metrics, and a reviewer sees an open
case's old and new score side by side. Leaves build/screenshots/owner-registry.png and review-rescored.png."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from helpers.builders import case
from helpers.registry import fitted, training_set, training_tables
from helpers.web import Site, login, shot
from signoff.learning import registry


def test_a_promoted_version_on_the_owner_page_and_in_the_review_workspace(site: Site, context: Any) -> None:
    submitted = site.submit([case(0.45), case(0.05)])
    assert [c["verdict"] for c in submitted] == ["review", "auto"]
    flow = site.project.flow("test-flow")
    training_tables(site.db, [(1, "bad", "review", "train"), (2, "good", "audit", "validation")])
    new = registry.register(
        site.db,
        site.project,
        flow,
        fitted(flow),
        training_set=training_set(site.db),
        metrics={"auc": 0.91},
        parent=None,
        actor="retrain",
    )
    promoted = registry.promote(site.db, site.project, flow, new.version, actor="owen", reason="better AUC")
    assert promoted.rescored == 1

    page = context.new_page()
    login(page, site, "owen")
    expect(page).to_have_url(site.url + "/owner")
    models = page.get_by_role("table", name="Model versions")
    row = models.get_by_role("row").filter(has_text=new.version)
    for _ in range(50):  # the server's refresh timer switches to the new champion within about a second
        if "serving" in row.inner_text():
            break
        page.wait_for_timeout(200)
        page.reload()
    cells = row.get_by_role("cell")
    expect(cells.nth(0)).to_have_text("champion, serving")
    expect(cells.nth(0).locator(".badge")).to_have_attribute("title", re.compile(r"^since .+, by owen$"))
    expect(cells.nth(3)).to_contain_text("training set 7: 2 labels (audit 1, review 1)")
    expect(cells.nth(4)).to_have_text("auc 0.910")
    old = models.get_by_role("row").filter(has_text="test-1").get_by_role("cell")
    expect(old.nth(0)).to_have_text("retired")
    expect(old.nth(3)).to_have_text("the flow file")
    expect(page.locator("dl.facts")).to_contain_text(new.version)  # the model this server runs now
    shot(page, "owner-registry")

    reviewer = context.new_page()
    login(reviewer, site, "alice")
    expect(reviewer.locator("#task-slot h1")).to_contain_text("Case ")
    scores = reviewer.get_by_role("table", name="Scores of this case, by model version")
    expect(scores.get_by_role("row")).to_have_count(3)  # the header, the old score, the new one
    first = scores.get_by_role("row").filter(has_text="test-1")
    expect(first).to_contain_text("good 55.0%, bad 45.0%")
    expect(first).to_contain_text("routed this case")
    expect(scores.get_by_role("row").filter(has_text=new.version)).to_contain_text("new champion, re-scored")
    shot(reviewer, "review-rescored", full_page=False)
