"""Logging in as each role, landing on its page, and being kept out of other roles' pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from helpers.builders import case
from helpers.web import Site, login, password_of, shot

LANDINGS = [
    ("admin", "/review", "Case "),
    ("alice", "/review", "Case "),
    ("lena", "/lead", "Review floor"),
    ("owen", "/owner", "Flows and models"),
    ("audra", "/audit", "Audit"),
]


def test_each_role_logs_in_and_lands_on_its_page(site: Site, context: Any) -> None:
    site.submit([case(0.5, amount=52341.27, note="first case"), case(0.6)])
    page = context.new_page()
    page.goto(site.url + "/review")
    expect(page).to_have_url(site.url + "/login?next=%2Freview")
    shot(page, "login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown user or wrong password.")
    shot(page, "login-failed")
    for name, path, title in LANDINGS:
        login(page, site, name)
        expect(page).to_have_url(site.url + path)
        expect(page.locator("h1").first).to_contain_text(title)
        expect(page.locator(".who-name")).to_have_text(name)
        if name == "alice":
            expect(page.locator("#task-slot .rule")).to_have_text("uncertain")
        if name in ("alice", "lena", "owen", "audra"):
            shot(page, {"alice": "review", "lena": "lead", "owen": "owner", "audra": "audit"}[name])
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(site.url + "/login")
    page.goto(site.url + "/login")
    page.get_by_label("User name").fill("ingest")
    page.get_by_label("Password").fill("whatever it is")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown user or wrong password.")  # no password: no login


def test_the_auditor_reads_a_cases_decision_record(site: Site, context: Any) -> None:
    submitted = site.submit([case(0.5, note="a note for the record")])
    page = context.new_page()
    login(page, site, "audra")
    page.get_by_label("Case id").fill(str(submitted[0]["case_id"]))
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("a note for the record")).to_be_visible()
    expect(page.get_by_text("Nobody has verified the chain here yet.")).to_be_visible()  # no check on page load
    page.get_by_role("button", name="Verify the whole chain now").click()
    expect(page.locator(".ok-text")).to_contain_text("Intact when audra verified it")
    expect(page.get_by_text(re.compile(r"^\d+ events? sealed since then\.$"))).to_be_visible()  # the sealer runs on
    page.get_by_label("Case id").fill(str(submitted[0]["case_id"]))
    page.get_by_role("button", name="Show").click()
    shot(page, "audit-case")


def test_verifying_the_chain_needs_the_auditors_role_and_a_form_token(site: Site, context: Any) -> None:
    page = context.new_page()
    login(page, site, "alice", "/account")
    token = page.locator('form[action="/logout"] input[name="csrf_token"]').get_attribute("value")
    refused = page.request.post(site.url + "/audit/verify", form={"csrf_token": token or ""})
    assert refused.status == 403 and "Not for your role" in refused.text()
    auditor = context.browser.new_context().new_page()
    login(auditor, site, "audra")
    forged = auditor.request.post(site.url + "/audit/verify", form={"csrf_token": "forged"})
    assert forged.status == 403
    auditor.goto(site.url + "/audit")
    expect(auditor.get_by_text("Nobody has verified the chain here yet.")).to_be_visible()


@pytest.mark.parametrize("path", ["/lead", "/owner", "/audit"])
def test_a_reviewer_gets_403_on_lead_owner_and_auditor_pages(site: Site, context: Any, path: str) -> None:
    page = context.new_page()
    login(page, site, "alice", "/account")
    response = page.goto(site.url + path)
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Not for your role")
    expect(page.get_by_role("alert")).to_contain_text("You are signed in as alice (reviewer on *)")
    if path == "/lead":
        shot(page, "forbidden")
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link")).to_have_text(["Review"])  # only the pages the role may open


def test_state_changes_need_the_sessions_csrf_token_and_logout_ends_the_session(site: Site, context: Any) -> None:
    site.submit([case(0.5)])
    page = context.new_page()
    login(page, site, "bob")
    refused = page.request.post(site.url + "/review/next", headers={"x-csrf-token": "guessed"})
    assert refused.status == 403 and "CSRF" in refused.json()["error"]["message"]
    missing = page.request.post(site.url + "/review/next")
    assert missing.status == 403
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert page.request.post(site.url + "/review/next", headers={"x-csrf-token": token}).status == 200
    form = page.request.post(site.url + "/logout", form={"csrf_token": "guessed"})
    assert form.status == 403
    cookies = context.cookies()
    session = next(c for c in cookies if c["name"] == "signoff-session")
    assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(site.url + "/login")
    context.add_cookies([{"name": session["name"], "value": session["value"], "url": site.url}])
    after = page.request.post(site.url + "/review/next", headers={"x-csrf-token": token})
    assert after.status == 401  # the old cookie was revoked on the server, not just deleted in the browser
    redirected = page.goto(site.url + "/review")
    assert redirected is not None and redirected.url.startswith(site.url + "/login?next=")


def test_a_login_redirect_never_leaves_the_site(site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(site.url + "/login?next=https://evil.example/")
    page.get_by_label("User name").fill("owen")
    page.get_by_label("Password").fill(password_of("owen"))
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(site.url + "/owner")
