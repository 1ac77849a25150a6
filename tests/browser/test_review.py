"""The review workspace driven by the keyboard alone: decisions reach the store, undo and skip work, and a lost
lease keeps what the reviewer typed."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import func, select

from helpers.builders import case
from helpers.queues import age_lease
from helpers.web import Site, heading, login, shot
from signoff import review, users
from signoff.store.schema import cases, decisions, reviews, task_skips


def _count(site: Site, table: Any) -> int:
    with site.db.transaction(write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _wait_for_next(page: Any, before: str) -> str:
    expect(page.locator("#task-slot h1")).not_to_have_text(before)
    return heading(page)


def test_twenty_tasks_reviewed_with_the_keyboard_only(site: Site, context: Any) -> None:
    submitted = site.submit([case(0.3 + 0.01 * i, external_id=f"app-{i:03d}") for i in range(23)])
    assert all(c["verdict"] == "review" for c in submitted)
    page = context.new_page()
    login(page, site, "alice")
    expect(page.locator("#task-slot h1")).to_contain_text("Case ")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    shot(page, "review-help", full_page=False)
    page.keyboard.press("Escape")

    # Skip the first task, with a reason.
    first = heading(page)
    page.keyboard.press("s")
    expect(page.get_by_role("dialog", name="Skip this task")).to_be_visible()
    page.keyboard.type("conflicting documents, needs a specialist")
    shot(page, "review-skip", full_page=False)
    page.keyboard.press("Enter")
    current = _wait_for_next(page, first)

    expected: dict[str, tuple[str, str]] = {}
    for i in range(20):
        label = "good" if i % 3 else "bad"
        page.keyboard.press("1" if label == "good" else "2")
        expect(page.locator('#task-slot .label-button[aria-pressed="true"]')).to_have_attribute("data-label", label)
        comment = ""
        if i % 4 == 0:
            comment = f"checked by hand, note {i}"
            page.keyboard.press("c")
            page.keyboard.type(comment)
            if i == 4:
                shot(page, "review-deciding")
            page.keyboard.press("Escape")
        if i == 7:  # submit, then take it back with U: the task returns with its label, nothing was sent
            page.keyboard.press("Enter")
            _wait_for_next(page, current)
            page.keyboard.press("u")
            expect(page.locator("#task-slot h1")).to_have_text(current)
            expect(page.locator('#task-slot .label-button[aria-pressed="true"]')).to_have_attribute("data-label", label)
        page.keyboard.press("Enter")
        if i == 0:
            expect(page.locator("#toast")).to_contain_text("will be sent in 1 s")
        expected[current.split("·")[-1].strip()] = (label, comment)
        current = _wait_for_next(page, current) if i < 19 else current
        if i == 0:  # the next task is on screen while the decision is held
            shot(page, "review-undo", full_page=False)

    # The last answer is sent when its grace period ends.
    expect(page.locator("#toast")).to_be_empty(timeout=5000)
    deadline = time.monotonic() + 5
    while _count(site, reviews) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    with site.db.transaction(write=False) as conn:
        rows = conn.execute(
            select(cases.c.external_id, reviews.c.label, reviews.c.comment, reviews.c.reviewer_id, decisions.c.label)
            .join(reviews, reviews.c.case_id == cases.c.id)
            .join(decisions, decisions.c.case_id == cases.c.id)
        ).all()
        skipped = conn.execute(select(task_skips.c.reason, task_skips.c.reviewer_id)).all()
    assert {r[0]: (r[1], r[2]) for r in rows} == expected
    assert all(r.reviewer_id == site.ids["alice"] and r[4] == r[1] for r in rows)
    assert [tuple(s) for s in skipped] == [("conflicting documents, needs a specialist", site.ids["alice"])]


def test_a_lost_lease_shows_a_message_and_keeps_the_label_and_comment(site: Site, context: Any) -> None:
    site.submit([case(0.5, external_id="loan-1"), case(0.6, external_id="loan-2")])
    page = context.new_page()
    login(page, site, "alice")
    expect(page.locator("#task-slot h1")).to_contain_text("Case ")
    page.keyboard.press("2")
    page.keyboard.press("c")
    page.keyboard.type("income proof looks edited; asked for the original")
    page.keyboard.press("Escape")
    state = page.evaluate("window.signoffReview.state()")
    task_id = state["current"]["id"]
    # The lease runs out (by the database clock) and another reviewer takes the task over.
    age_lease(site.db, task_id, 121)  # past the 120 s TTL
    bob = next(u for u in users.list_users(site.db) if u.name == "bob")
    taken = review.claim(site.db, site.project, bob)
    assert taken is not None and taken.task_id == task_id
    page.keyboard.press("Enter")  # held for the grace period, then refused by the server
    alert = page.locator("#task-slot .lost")
    expect(alert).to_be_visible(timeout=5000)
    expect(alert).to_contain_text("Your lease on this task was lost")
    expect(alert).to_contain_text("a newer lease")
    expect(page.locator("#task-slot h1")).to_contain_text("loan-")
    expect(page.locator("#task-slot textarea")).to_have_value("income proof looks edited; asked for the original")
    expect(page.locator('#task-slot .label-button[aria-pressed="true"]')).to_have_attribute("data-label", "bad")
    expect(page.locator("#task-slot .submit-button")).to_be_disabled()
    shot(page, "review-lease-lost")
    with site.db.transaction(write=False) as conn:
        assert conn.execute(select(reviews)).all() == []
    page.keyboard.press("n")  # on to the next task
    expect(page.locator("#task-slot .lost")).to_be_hidden()
