"""Basic accessibility on every page, in Chromium: each control has a name a screen reader can read, no control
jumps the tab order, and pressing Tab visits the controls in the order they appear on the page. (Text contrast
is checked on the style sheet's colours in tests/unit/test_web_pure.py.)"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from playwright.sync_api import expect

from helpers.builders import case
from helpers.web import Site, login
from signoff import review, users

# A control's accessible name, as far as the pages use them: aria-label, aria-labelledby, a <label>, a title,
# or (buttons, links, summaries) its own text or an image's alt text.
UNNAMED = """() => {
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])');
  const named = (el) => {
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    if (ids.some((id) => (document.getElementById(id)?.textContent || '').trim())) return true;
    if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
    if ((el.getAttribute('title') || '').trim()) return true;
    if (['A', 'BUTTON', 'SUMMARY'].includes(el.tagName)) {
      if (el.textContent.trim()) return true;
      if ([...el.querySelectorAll('img[alt]')].some((i) => i.alt.trim())) return true;
    }
    return false;
  };
  const hidden = (el) => el.closest('[hidden]') !== null || el.getClientRects().length === 0;
  return [...controls].filter((el) => !hidden(el) && !named(el)).map((el) => el.outerHTML.slice(0, 160));
}"""

FOCUSABLE = """() => [...document.querySelectorAll(
    'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), '
    + 'textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])')]
  .filter((el) => el.closest('[hidden]') === null && el.getClientRects().length > 0)
  .map((el) => el.outerHTML.slice(0, 80))"""

JUMPS = """() => [...document.querySelectorAll('[tabindex]')]
  .filter((el) => el.tabIndex > 0).map((el) => el.outerHTML.slice(0, 160))"""


def _tab_order_follows_the_page(page: Any, steps: int = 60) -> list[str]:
    """Press Tab from the top and record each focused element's position in document order; return the backward
    jumps and the visible controls Tab never reached."""
    page.evaluate(  # start from the top of the page, whatever has focus now (the login form focuses its field)
        "() => { const s = document.createElement('span'); s.tabIndex = -1; document.body.prepend(s); s.focus(); }"
    )
    page.evaluate("() => { window.__order = [...document.querySelectorAll('*')]; }")
    positions: list[tuple[int, str]] = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        found = page.evaluate(
            "() => { const el = document.activeElement; "
            "return el && el !== document.body ? [window.__order.indexOf(el), el.outerHTML.slice(0, 80)] : null; }"
        )
        if found is not None and positions and found[0] == positions[-1][0]:
            continue  # a date field's day, month and year parts
        if found is None or any(found[0] == seen for seen, _ in positions):
            break  # left the page (into the browser's own controls) or came round again
        positions.append((found[0], found[1]))
    reached = {html for _, html in positions}
    missed = [html for html in page.evaluate(FOCUSABLE) if html not in reached]
    return [html for (a, _), (b, html) in itertools.pairwise(positions) if b < a] + [f"missed {m}" for m in missed]


PAGES = [
    ("alice", "/review"),
    ("alice", "/account"),
    ("lena", "/lead"),
    ("owen", "/owner"),
    ("owen", "/owner/flows/test-flow"),
    ("audra", "/audit?case=1"),
]


@pytest.mark.parametrize(("who", "path"), PAGES)
def test_every_control_is_named_and_focus_follows_the_page(
    scripted_site: Site, context: Any, who: str, path: str
) -> None:
    page = context.new_page()
    login(page, scripted_site, who, path)
    page.goto(scripted_site.url + path)
    page.wait_for_load_state("networkidle")
    assert page.locator("main, [role=main]").count() == 1
    assert page.evaluate(UNNAMED) == []
    assert page.evaluate(JUMPS) == []
    assert _tab_order_follows_the_page(page) == []


def test_the_list_of_tasks_held_from_another_page_is_named_and_in_order(site: Site, context: Any) -> None:
    site.submit([case(0.5, external_id=f"held-{i}") for i in range(3)])
    alice = next(u for u in users.list_users(site.db) if u.name == "alice")
    for _ in range(2):  # leased by a page that is gone
        assert review.claim(site.db, site.project, alice) is not None
    page = context.new_page()
    login(page, site, "alice", "/review")
    expect(page.get_by_role("region", name="Tasks you hold").locator("tbody tr")).to_have_count(2)
    assert page.evaluate(UNNAMED) == []
    assert page.evaluate(JUMPS) == []
    assert _tab_order_follows_the_page(page) == []


def test_the_login_page_is_named_and_in_order(site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(site.url + "/login")
    assert page.evaluate(UNNAMED) == []
    assert _tab_order_follows_the_page(page) == []


def test_the_checks_catch_an_unnamed_control_and_a_jump_in_the_tab_order(site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(site.url + "/login")
    page.evaluate(
        "() => { const i = document.createElement('input'); document.querySelector('form').append(i);"
        " document.getElementById('password').tabIndex = 1; }"
    )
    assert page.evaluate(UNNAMED) == ["<input>"]
    assert len(page.evaluate(JUMPS)) == 1
    assert _tab_order_follows_the_page(page) != []  # the password field is skipped: a jump
