"""The API documentation page renders in the browser from this server alone: no request leaves for a CDN, and
its security policy lets Swagger UI run without refusing anything. ReDoc (/redoc) is not served."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect

from helpers.web import Site


def test_the_api_docs_render_offline_under_the_ui_security_headers(site: Site, context: Any) -> None:
    page = context.new_page()
    elsewhere: list[str] = []
    refused: list[str] = []
    # Anything bound elsewhere than this server at 127.0.0.1 is recorded and refused, as it would fail offline.
    assert urlsplit(site.url).hostname == "127.0.0.1"
    page.route(
        lambda url: urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != "127.0.0.1",
        lambda route: (elsewhere.append(route.request.url), route.abort()),
    )
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    response = page.goto(site.url + "/docs")
    assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("/api/v1/flows/{flow}/cases").first).to_be_attached()
    assert elsewhere == [] and refused == []


def test_redoc_which_would_load_from_a_cdn_is_not_served(site: Site, context: Any) -> None:
    assert context.new_page().goto(site.url + "/redoc").status == 404
