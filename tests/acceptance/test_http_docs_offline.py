"""/docs is served with its scripts and styles from this server (no CDN, so it renders offline), and the icon a
browser asks for at /favicon.ico is there. The browser test (tests/browser/test_api_docs.py) renders the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.builders import make_project
from signoff.api.app import create_app
from signoff.store.database import Database


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_project(tmp_path, db.url))) as served:
        yield served


def test_the_docs_page_names_only_assets_this_server_serves(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", page.text), "the page names another origin"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert {Path(a).suffix for a in assets} >= {".js", ".css"}
    for asset in assets:
        assert asset.startswith("/docs-assets/"), asset
        served = client.get(asset)
        assert served.status_code == 200 and len(served.content) > 100, asset
    assert "/openapi.json" in page.text and client.get("/openapi.json").status_code == 200


def test_redoc_is_not_served_and_the_favicon_is(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg") and icon.content == client.get("/static/favicon.svg").content
    assert 'rel="icon" href="/static/favicon.svg' in client.get("/login").text
