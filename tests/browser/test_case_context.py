"""What surrounds a case: an image drawn from pixel fields (a real 8x8 digit), earlier decisions on the same
customer in the review workspace, and the auditor's record with its events and downloads."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sklearn.datasets import load_digits
from sqlalchemy import text

from browser.xss_payloads import corpus
from helpers.builders import case
from helpers.web import Site, login, no_script_ran, shot, web_flow
from signoff import audit

PIXELS = {f"pixel_{i}": {"type": "number", "min": 0, "max": 16, "required": False} for i in range(64)}
FIELDS = {**web_flow()["fields"], "customer": {"type": "string", "required": False}, **PIXELS}
CONTEXT_FLOW = {
    "fields": FIELDS,
    "entity": "customer",
    "images": {
        "digit": {"title": "Handwritten digit", "prefix": "pixel_", "width": 8, "height": 8, "low": 0, "high": 16}
    },
}


@pytest.mark.parametrize("site", [CONTEXT_FLOW], indirect=True)
def test_a_digit_is_drawn_and_the_customers_earlier_decisions_are_shown(site: Site, context: Any) -> None:
    digit = load_digits().images[0].ravel()  # a handwritten 0 from UCI's optical digits
    pixels = {f"pixel_{i}": float(v) for i, v in enumerate(digit)}
    site.submit([case(0.1, external_id="earlier-1", customer="acme-42")])  # decided by the model
    site.submit([case(0.5, external_id="now", customer="acme-42", **pixels)])
    page = context.new_page()
    login(page, site, "alice")
    task = page.locator("#task-slot")
    expect(task.locator("h1")).to_contain_text("now")
    picture = task.get_by_role("img", name="Handwritten digit: 64 pixels drawn from the case's fields")
    expect(picture).to_be_visible()
    fills = picture.locator("rect[x]").evaluate_all("cells => cells.map(c => c.getAttribute('fill'))")
    assert len(fills) == 65  # 64 pixels and the frame
    shades = [int(f[4:].split(",")[0]) for f in fills[:64]]
    assert shades == [round(255 * (1 - v / 16)) for v in digit]
    assert min(shades) < 40 and max(shades) == 255  # ink and paper both present
    case_fields = task.locator("section[aria-labelledby^='fields-'] th")
    expect(case_fields.filter(has_text="customer")).to_have_count(1)
    expect(case_fields.filter(has_text="pixel_0")).to_have_count(0)  # pixels are drawn, not listed
    history = task.get_by_role("region", name="Earlier cases about customer acme-42")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history.locator("tbody tr")).to_contain_text("earlier-1")
    expect(history.locator("tbody tr")).to_contain_text("good")
    shot(page, "review-case-context")


def test_the_auditor_sees_names_and_events_and_downloads_the_record_and_trail(site: Site, context: Any) -> None:
    [submitted] = site.submit([case(0.5, external_id="disputed", note="=1+1")])
    page = context.new_page()
    login(page, site, "alice")
    expect(page.locator("#task-slot h1")).to_contain_text("disputed")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 15  # the submit leaves the browser once the undo grace period is over
    while audit.case_history(site.db, submitted["case_id"])["decision"] is None:  # type: ignore[index]
        assert time.monotonic() < deadline, "the review never reached the store"
        time.sleep(0.1)
    audit.seal(site.db)

    page = context.new_page()
    login(page, site, "audra")
    page.get_by_label("Case id").fill(str(submitted["case_id"]))
    page.get_by_role("button", name="Show").click()
    reviews = page.locator("h4:has-text('Reviews') + table")
    expect(reviews).to_contain_text("alice")
    events = page.locator("table.events tbody tr")
    expect(events).to_have_count(4)
    expect(events.nth(3)).to_contain_text("case.decided")
    shot(page, "audit-record")

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download this record (JSON)").click()
    record = json.loads(caught.value.path().read_text(encoding="utf-8"))
    assert record["decision"]["label"] == "bad" and [e["action"] for e in record["events"]][-1] == "case.decided"

    with page.expect_download() as caught:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(caught.value.path().read_text(encoding="utf-8"))))
    assert "review.submitted" in [r["action"] for r in rows] and all(r["hash"] for r in rows)

    page.get_by_label("From").fill("2999-01-01")
    with page.expect_download() as caught:
        page.get_by_role("button", name="Download JSON Lines").click()
    assert caught.value.path().read_text(encoding="utf-8") == ""  # nothing sealed in the future

    cookies = {c["name"]: c["value"] for c in context.cookies()}
    bad = httpx.get(f"{site.url}/audit/events.jsonl", params={"since": "last week"}, cookies=cookies)
    assert bad.status_code == 422 and "is not an ISO 8601 date" in bad.json()["error"]["message"]


def test_a_reviewer_cannot_download_the_trail(site: Site, context: Any) -> None:
    page = context.new_page()
    login(page, site, "alice")
    for path in ("/audit/events.csv", "/audit/cases/1.json"):
        response = page.goto(site.url + path)
        assert response is not None and response.status == 403
        expect(page.locator("h1")).to_have_text("Not for your role")


@pytest.mark.parametrize("site", [CONTEXT_FLOW], indirect=True)
def test_script_in_an_entity_value_is_shown_as_text(site: Site, trapped: Any) -> None:
    payloads = [f"{i:02d}{p}"[:40] for i, p in enumerate(corpus()[:40])]  # distinct customers
    for i, payload in enumerate(payloads):  # an earlier case and a case to review about each hostile customer
        site.submit([case(0.1, external_id=f"old-{i}", customer=payload)])
        site.submit([case(0.5, external_id=f"new-{i}", customer=payload)])
    page = trapped.new_page()
    login(page, site, "alice")
    for i in range(len(payloads)):
        task = page.locator("#task-slot")
        expect(task.locator("h1")).to_contain_text("new-")
        customer = task.locator("section[aria-labelledby^='fields-'] td").last.text_content()
        assert customer in payloads
        history = task.locator("section[aria-labelledby^='entity-']")
        expect(history.locator("h2")).to_have_text(f"Earlier cases about customer {customer}")
        expect(history.locator("tbody tr")).to_have_count(1)
        before = task.locator("h1").inner_text()
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        if i < len(payloads) - 1:
            expect(page.locator("#task-slot h1")).not_to_have_text(before)
    expect(page.locator("#task-slot .empty h2")).to_have_text("No task is waiting for you", timeout=10_000)
    no_script_ran(page, trapped)


DIGIT_FLOW = {
    **CONTEXT_FLOW,
    "labels": [str(d) for d in range(10)],
    "model": {"kind": "python", "entry_point": "helpers.models:ten_unsure", "version": "digits-1"},
    "policy": [{"name": "unsure", "kind": "threshold", "min_confidence": 0.9}],
}


@pytest.mark.parametrize("site", [DIGIT_FLOW], indirect=True)
def test_digit_labels_are_chosen_by_their_own_digit(site: Site, context: Any) -> None:
    pixels = {f"pixel_{i}": float(v) for i, v in enumerate(load_digits().images[0].ravel())}  # a handwritten 0
    [submitted] = site.submit([case(0.5, external_id="a-zero", **pixels)])
    page = context.new_page()
    login(page, site, "alice")
    task = page.locator("#task-slot")
    expect(task.locator("h1")).to_contain_text("a-zero")
    expect(task.locator('.label-button[data-label="0"] kbd')).to_have_text("0")
    expect(task.locator("section[aria-labelledby^='entity-'] p")).to_have_text(
        "This case names no customer, so earlier cases about the same one cannot be found."
    )
    page.keyboard.press("7")
    expect(task.locator('.label-button[aria-pressed="true"]')).to_have_attribute("data-label", "7")
    shot(page, "review-digit")
    page.keyboard.press("0")
    expect(task.locator('.label-button[aria-pressed="true"]')).to_have_attribute("data-label", "0")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 15  # sent once the undo grace period is over
    while (record := audit.case_history(site.db, submitted["case_id"])) is not None and record["decision"] is None:
        assert time.monotonic() < deadline, "the review never reached the store"
        time.sleep(0.1)
    assert record is not None and record["decision"]["label"] == "0"


TWO_QUEUES = {
    "queues": {"default": {"role": "reviewer", "lease_ttl": 120}, "large": {"role": "reviewer", "lease_ttl": 120}},
    "policy": [
        {"name": "large-amount", "kind": "expression", "when": "amount > 1000", "queue": "large"},
        {"name": "uncertain", "kind": "band", "label": "bad", "low": 0.2, "high": 0.8, "review": "inside"},
    ],
}


@pytest.mark.parametrize("site", [TWO_QUEUES], indirect=True)
def test_a_reviewer_works_on_one_queue_by_choice(site: Site, context: Any) -> None:
    site.submit([case(0.5, external_id=f"small-{i}", amount=10) for i in range(3)])
    site.submit([case(0.5, external_id=f"large-{i}", amount=5000) for i in range(3)])
    page = context.new_page()
    login(page, site, "alice")
    page.get_by_label("Work on").select_option("test-flow/large")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(site.url + "/review?queue=test-flow%2Flarge")
    task = page.locator("#task-slot")
    for i in range(3):  # skip and submit both claim the next task from the chosen queue only
        expect(task.locator("h1")).to_contain_text("large-")
        before = task.locator("h1").inner_text()
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        if i < 2:
            expect(task.locator("h1")).not_to_have_text(before)
    expect(task.locator(".empty h2")).to_have_text("No task is waiting for you", timeout=10_000)
    shot(page, "review-work-on", full_page=False)

    page.goto(site.url + "/review?queue=test-flow/nope")
    expect(page.get_by_role("alert")).to_have_text(
        "test-flow/nope is not a queue you may work on; showing all your queues."
    )
    expect(page.locator("#task-slot h1")).to_contain_text("small-")
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    refused = httpx.post(
        f"{site.url}/review/next",
        json={"flow": "test-flow", "queue": "nope"},
        headers={"x-csrf-token": csrf},
        cookies=cookies,
    )
    assert refused.status_code == 422 and "is not a queue you may work on" in refused.json()["error"]["message"]


@pytest.mark.parametrize("site", [TWO_QUEUES], indirect=True)
def test_switching_queue_gives_back_a_task_whose_claim_is_still_on_its_way(site: Site, context: Any) -> None:
    site.submit([case(0.5, external_id=f"small-{i}", amount=10) for i in range(3)])
    site.submit([case(0.5, external_id=f"large-{i}", amount=5000) for i in range(3)])
    page = context.new_page()
    claims: list[Any] = []

    def hold_the_prefetch(route: Any) -> None:  # the server claims the second task; its reply waits
        claims.append(route)
        if len(claims) == 2:
            claims[-1] = (route, route.fetch())
        else:
            route.continue_()

    page.route("**/review/next", hold_the_prefetch)
    login(page, site, "alice")
    expect(page.locator("#task-slot h1")).to_contain_text("small-")
    while len(claims) < 2 or not isinstance(claims[1], tuple):
        page.wait_for_timeout(20)
    page.get_by_label("Work on").select_option("test-flow/large")
    page.get_by_role("button", name="Switch").click()
    route, reply = claims[1]
    route.fulfill(response=reply)  # the prefetched task arrives after the reviewer chose to leave
    expect(page).to_have_url(site.url + "/review?queue=test-flow%2Flarge")
    expect(page.locator("#task-slot h1")).to_contain_text("large-")
    with site.db.transaction(write=False) as conn:
        held = conn.execute(
            text(
                "SELECT COUNT(*) FROM tasks t JOIN users u ON u.id = t.lease_owner WHERE u.name = 'alice' "
                "AND t.status = 'leased' AND t.queue = 'default'"
            )
        ).scalar_one()
    assert held == 0  # given back, not left leased until its lease runs out
