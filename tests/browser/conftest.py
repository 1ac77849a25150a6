"""Browser tests: the app served by uvicorn in a thread on a fresh SQLite project, driven by Playwright in
Debian's Chromium (/usr/bin/chromium). One browser for the whole session; a new context (cookies) per test.

Without Chromium these tests are skipped locally; under CI=true the run stops instead.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
import uvicorn

from helpers.builders import make_project
from helpers.processes import free_port
from helpers.scripted import scripted_project, scripted_run
from helpers.web import ROLES, VIEWPORT, Site, password_of, web_flow
from signoff import users
from signoff.api.app import create_app
from signoff.config import Project
from signoff.domain import Role
from signoff.store.database import Database

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every browser test is slow (a served app driven in Chromium); without Chromium they are skipped."""
    ours = [item for item in items if "browser" in item.nodeid.split("/")]
    for item in ours:
        item.add_marker(pytest.mark.slow)
    if not ours or Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.exit(f"Chromium is required under CI=true but {CHROMIUM} is missing: apt-get install chromium", 3)
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium)")
    for item in ours:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@contextmanager
def _serve(project: Project, db: Database, existing: tuple[str, ...] = ()) -> Iterator[Site]:
    """Serve ``project`` with uvicorn in a thread, with one user per role (``existing`` ones get a password)."""
    ids = {}
    token = ""
    for name, role in ROLES.items():
        if name in existing:
            ids[name] = next(u.id for u in users.list_users(db) if u.name == name)
        else:
            user, api_token = users.create_user(db, name, role, "test")
            ids[name] = user.id
            if role is Role.INTAKE:
                token = api_token
        if role is not Role.INTAKE:
            users.set_password(db, name, password_of(name), "test")
    # Every browser test logs in from 127.0.0.1, some of them with wrong passwords on purpose: one address for all
    # of them would soon be throttled. The throttle itself is tested over HTTP (tests/acceptance/test_http_login.py).
    with patch.dict(os.environ, {"SIGNOFF_LOGIN_ADDRESS_TRIES": "100000", "SIGNOFF_LOGIN_ACCOUNT_TRIES": "100000"}):
        app = create_app(project)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield Site(f"http://127.0.0.1:{port}", project, db, token, ids)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def site(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    """Parametrise indirectly with a dict to change the test flow (``web_flow(**param)``), and the undo period
    (``undo_seconds``, 1 s unless given)."""
    param = dict(getattr(request, "param", {}))
    monkeypatch.setenv("SIGNOFF_UI_UNDO_SECONDS", str(param.pop("undo_seconds", 1)))
    path = tmp_path / "signoff.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    project = make_project(tmp_path, url, flows={"test-flow": web_flow(**param)})
    db = Database(url)
    try:
        with _serve(project, db) as served:
            yield served
    finally:
        db.dispose()


@pytest.fixture
def scripted_site(sqlite_template: Path, tmp_path: Path) -> Iterator[Site]:
    """A server on the scripted run of tests/helpers/scripted.py: audits, gold answers and reviews by alice."""
    path = tmp_path / "signoff.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        project = scripted_project(db, tmp_path)
        scripted_run(db, project)
        with _serve(project, db, existing=("alice",)) as served:
            yield served
    finally:
        db.dispose()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport=VIEWPORT)
    made.set_default_timeout(10_000)
    yield made
    made.close()


TRAP = """
window.__xss = 0;
for (const name of ["alert", "confirm", "prompt", "print"]) {
  const original = window[name];
  window[name] = function (...args) { window.__xss += 1; return original.apply(this, args); };
}
"""


@pytest.fixture
def trapped(browser: Any) -> Iterator[Any]:
    """A context with the Content Security Policy bypassed (so escaping alone is tested) that counts every call
    of alert, confirm, prompt and print and every dialog; see ``helpers.web.no_script_ran``."""
    made = browser.new_context(viewport=VIEWPORT, bypass_csp=True)
    made.set_default_timeout(10_000)
    made.add_init_script(TRAP)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    made.on("dialog", on_dialog)
    made.dialogs = dialogs
    yield made
    made.close()
