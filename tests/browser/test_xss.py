"""Script-injection strings in case fields, external ids, comments, the login form and URLs never run, and are
shown as the text they are. CSP is bypassed in this browser context so the test checks escaping itself, not only
the Content Security Policy behind it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from playwright.sync_api import expect
from sqlalchemy import select

from browser.xss_payloads import corpus
from helpers.builders import case
from helpers.web import Site, login, no_script_ran
from signoff.store.schema import cases, reviews


def test_the_xss_corpus_never_runs_and_is_shown_as_text(site: Site, trapped: Any) -> None:
    payloads = corpus()
    assert len(payloads) >= 100
    submitted = site.submit([case(0.5, note=p, external_id=f"x{i:03d} {p}"[:200]) for i, p in enumerate(payloads)])
    assert all(c["verdict"] == "review" for c in submitted)
    by_note = {p: f"x{i:03d} {p}"[:200] for i, p in enumerate(payloads)}
    page = trapped.new_page()

    # A reflected payload in the login form and in URLs.
    for payload in payloads[:20]:
        page.goto(f"{site.url}/login?next={quote(payload, safe='')}")
        page.get_by_label("User name").fill(payload)
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_label("User name")).to_have_value(payload)
        no_script_ran(page, trapped)

    # The reviewer sees every payload as text, and writes it back as a comment.
    login(page, site, "alice")
    for i in range(len(payloads)):
        expect(page.locator("#task-slot h1")).to_contain_text("Case ")
        note = page.locator("#task-slot table.fields td").nth(3).text_content()
        assert note in by_note
        expect(page.locator("#task-slot h1")).to_contain_text(by_note[note].strip())
        before = page.locator("#task-slot h1").inner_text()
        page.keyboard.press("c")
        page.keyboard.insert_text(note)
        page.keyboard.press("Escape")
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        if i < len(payloads) - 1:
            expect(page.locator("#task-slot h1")).not_to_have_text(before)
    expect(page.locator("#task-slot .empty h2")).to_have_text("No task is waiting for you", timeout=10_000)
    page.wait_for_timeout(1500)  # the last answer's grace period
    no_script_ran(page, trapped)
    with site.db.transaction(write=False) as conn:
        stored = dict(conn.execute(select(cases.c.fields["note"].as_string(), reviews.c.comment).join(reviews)).all())
    assert len(stored) == len(payloads) and all(note == comment for note, comment in stored.items())

    # The auditor reads every case record, payloads in fields, external ids and comments.
    page.get_by_role("button", name="Log out").click()
    login(page, site, "audra")
    for item in submitted:
        page.goto(f"{site.url}/audit?case={item['case_id']}")
        note = page.locator("table.fields td").last.text_content()
        assert note in by_note
        assert page.locator("td.comment-text").text_content() == note
        no_script_ran(page, trapped)
    for payload in payloads[:20]:
        page.goto(f"{site.url}/audit?case={quote(payload, safe='')}")
        expect(page.get_by_label("Case id")).to_have_value(payload)
        no_script_ran(page, trapped)
