"""Every page at a phone's width (375 CSS pixels, an iPhone SE's): nothing wider than the screen, so no page
scrolls sideways; a wide table scrolls inside its own box instead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpers.builders import case
from helpers.web import Site, login, shot

PHONE = {"width": 375, "height": 740}
PAGES = [
    ("alice", "/review"),
    ("lena", "/lead"),
    ("owen", "/owner"),
    ("owen", "/owner/flows/web"),
    ("audra", "/audit"),
    ("alice", "/account"),
]


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE)
    yield context
    context.close()


def _sticking_out(page: Any) -> list[str]:
    """The elements that reach past the screen's right edge, outside any box that scrolls on its own."""
    found: list[str] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const scrolls = (el) => {
                for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                    if (["auto", "scroll"].includes(getComputedStyle(p).overflowX)) return true;
                }
                return false;
            };
            return [...document.querySelectorAll("body *")]
                .filter((el) => el.getBoundingClientRect().right > width + 1 && !scrolls(el))
                .map((el) => `${el.tagName.toLowerCase()}.${el.className} ${el.getBoundingClientRect().right}px`);
        }"""
    )
    return found


def test_no_page_scrolls_sideways_at_phone_width(site: Site, phone: Any) -> None:
    site.submit([case(0.5, amount=52341.27, note="a rather long note that has to wrap on a small screen"), case(0.6)])
    page = phone.new_page()
    for name, path in PAGES:
        login(page, site, name, path)
        page.goto(site.url + path)
        page.wait_for_load_state("networkidle")
        assert (path, _sticking_out(page)) == (path, [])
        assert (path, page.evaluate("document.documentElement.scrollWidth")) == (path, PHONE["width"])
        shot(page, "phone" + path.replace("/", "-"))
        page.context.clear_cookies()
