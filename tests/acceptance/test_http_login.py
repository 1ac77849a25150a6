"""Web logins over HTTP: throttled before hashing (429 with Retry-After), hashing bounded to a pool of its own
(503 when it stays full), and deactivated users refused at once; on both databases."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.builders import make_project
from signoff import users
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.errors import Unauthenticated
from signoff.store.database import Database
from signoff.web.logins import LoginBusy, Logins

PASSWORD = "a long enough password"


@pytest.fixture
def api(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("SIGNOFF_LOGIN_ACCOUNT_TRIES", "2")
    monkeypatch.setenv("SIGNOFF_LOGIN_BACKOFF_SECONDS", "30")
    with TestClient(create_app(make_project(tmp_path, db.url))) as client:
        yield Api(client, db)


def _login(api: Api, name: str, password: str) -> Any:
    form = api.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"csrf_token": token.group(1), "name": name, "password": password, "next": ""}
    return api.client.post("/login", data=data, follow_redirects=False)


def test_a_throttled_login_is_429_with_retry_after_before_any_hashing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    users.set_password(api.db, "reviewer", PASSWORD, "test")
    events = api.rows()["audit_events"]
    assert [_login(api, "reviewer", "wrong password!").status_code for _ in range(2)] == [401, 401]
    hashed: list[str] = []
    monkeypatch.setattr(users, "check_password", lambda attempt, _password: hashed.append(attempt.name))
    refused = _login(api, "reviewer", PASSWORD)
    assert refused.status_code == 429 and hashed == []
    assert 29 <= int(refused.headers["Retry-After"]) <= 30
    assert "Too many failed logins: try again in 30 s." in refused.text
    assert api.rows()["audit_events"] == events  # failures are counted, not audited


def test_an_over_long_password_and_unknown_names_write_no_audit_event(api: Api) -> None:
    events = api.rows()["audit_events"]
    for i in range(5):
        assert _login(api, f"nobody-{i}", "x" * 5000).status_code == 401
    assert api.rows()["audit_events"] == events


def test_a_deactivated_users_token_gets_401_at_once(api: Api) -> None:
    headers = api.as_(Role.REVIEWER)
    assert api.client.get("/api/v1/flows", headers=headers).status_code == 200
    users.set_active(api.db, "reviewer", False, "admin")
    refused = api.client.get("/api/v1/flows", headers=headers)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "unauthenticated"
    users.set_active(api.db, "reviewer", True, "admin")
    assert api.client.get("/api/v1/flows", headers=headers).status_code == 200


class _SlowHashing:
    """Stands in for Argon2id: takes ``seconds`` and records how many checks ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, attempt: users.LoginAttempt, password: str) -> users.PasswordCheck:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        return users.PasswordCheck(False, None)


async def _logins_at_once(logins: Logins, count: int) -> list[str]:
    outcomes: list[str] = []

    async def one(i: int) -> None:
        try:
            await logins.login(f"user-{i}", PASSWORD, f"10.0.0.{i}")
        except (Unauthenticated, LoginBusy) as error:
            outcomes.append(type(error).__name__)

    async with anyio.create_task_group() as group:
        for i in range(count):
            group.start_soon(one, i)
    return sorted(outcomes)


@pytest.mark.parametrize(
    ("wait", "outcomes"),
    [(5.0, ["Unauthenticated"] * 3), (0.1, ["LoginBusy", "LoginBusy", "Unauthenticated"])],  # waited, or refused
)
def test_passwords_are_hashed_one_at_a_time_with_one_hashing_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch, wait: float, outcomes: list[str]
) -> None:
    slow = _SlowHashing(0.3)
    monkeypatch.setattr(users, "check_password", slow)
    logins = Logins(db, threads=1, wait=wait)
    found = anyio.run(_logins_at_once, logins, 3)
    assert slow.most == 1
    assert found == outcomes


def test_a_login_form_with_text_the_policy_refuses_is_answered_on_the_login_page(api: Api) -> None:
    before = api.rows()
    page = _login(api, "alice\x00", "a password of some length")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "contains a NUL character" in page.text and 'name="csrf_token"' in page.text
    assert api.rows() == before
