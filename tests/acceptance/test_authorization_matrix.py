"""The authorization matrix: every operation of the HTTP API (from the OpenAPI document) and of the web UI (from
the app's routes), for every role granted on one flow, asked about that flow and about another, on both databases,
against the table in docs/reference/permissions.md. The expected matrix is that table, read from the page: the
docs and the code cannot drift apart, and an operation missing from the table fails the test."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from helpers.builders import flow_document, make_project
from signoff import intake, review, users
from signoff.api.app import create_app
from signoff.config import Project
from signoff.domain import Role, User
from signoff.learning import labels, outcomes
from signoff.learning.outcomes import OutcomeIn
from signoff.store import reviewers as people
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.schema import tasks
from signoff.web import security

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "permissions.md"
OWN, OTHER = "alpha-flow", "omega-flow"
HELPERS = {OWN: "rev-1", OTHER: "rev-2"}  # a reviewer of each flow, to hold leases and be assigned work
# Served to anyone, logged in or not; the page says so in words.
PUBLIC = {"GET /openapi.json", "GET /docs", "GET /docs-assets", "GET /static", "GET /favicon.ico"}
ALLOWED, HIDDEN, FORBIDDEN = "allowed", "hidden", "forbidden"


def documented() -> dict[str, dict[Role, str]]:
    """The matrix table of the permissions page: operation -> role -> cell."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index("| operation | admin | intake | reviewer | lead | owner | auditor |")
    roles = [Role(name.strip()) for name in lines[start].strip("|").split("|")[1:]]
    table: dict[str, dict[Role, str]] = {}
    for line in itertools.takewhile(lambda text: text.startswith("|"), lines[start + 2 :]):
        operation, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        table[operation.strip("`")] = dict(zip(roles, cells, strict=True))
    return table


def operations(app: FastAPI) -> set[str]:
    """Every operation: those of the OpenAPI document, and every route the app serves (web pages included)."""
    found = {f"{method.upper()} {path}" for path, item in app.openapi()["paths"].items() for method in item}
    for route in _walk(app.routes):
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", None) or {"GET"}:  # a mount serves GET
            if method != "HEAD":
                found.add(f"{method} {path}")
    return found - PUBLIC


def _walk(routes: Any) -> Iterator[Any]:
    """The routes, those of included routers too (FastAPI keeps an included router as one entry; the web UI's is
    included without a prefix)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _walk(route.original_router.routes)
        else:
            yield route


def expected(cell: str) -> tuple[str, str]:
    """(own flow, other flow) for a user whose role is granted on one flow."""
    return {"yes": (ALLOWED, ALLOWED), "own": (ALLOWED, HIDDEN), "all": (FORBIDDEN, FORBIDDEN)}.get(
        cell, (FORBIDDEN, FORBIDDEN)
    )


@dataclass
class Env:
    client: TestClient
    db: Database
    project: Project
    runtimes: dict[str, intake.FlowRuntime]
    people: dict[Role, User]
    tokens: dict[Role, str]
    sessions: dict[Role, tuple[str, str]]
    helpers: dict[str, User]
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def case(self, flow: str) -> int:
        """A new case of ``flow`` waiting for review, its task first in claim order; the case id."""
        runtime = self.runtimes[flow]
        n = next(self.serial)
        found, problems = intake.validate_case(runtime.flow, f"case-{n}", {"score": 0.5, "group": "a"}, "case")
        assert found is not None, problems
        (submitted,) = intake.submit(self.db, runtime, [found], "tester")
        with self.db.transaction() as conn:
            conn.execute(update(tasks).where(tasks.c.case_id == submitted.case_id).values(priority=1000 + n))
        return int(submitted.case_id)

    def task(self, flow: str) -> int:
        case_id = self.case(flow)
        with self.db.transaction(write=False) as conn:
            return int(conn.execute(tasks.select().where(tasks.c.case_id == case_id)).first().id)  # type: ignore[union-attr]

    def lease(self, role: Role, flow: str) -> tuple[int, int]:
        """A live lease on a new task of ``flow``: the caller's if they may review there, else its helper's."""
        self.task(flow)
        person = self.people[role]
        holder = person if users.may(person, "review", flow) else self.helpers[flow]
        got = review.claim(self.db, self.project, holder, flow=flow)
        assert got is not None and got.flow == flow
        return got.task_id, got.token

    def conflict(self, flow: str) -> int:
        """A recorded label conflict on a new case of ``flow``: two outcome sources disagree."""
        runtime = self.runtimes[flow]
        case_id = self.case(flow)
        found = [OutcomeIn("o", {"case_id": case_id, "label": label, "source": label}) for label in ("good", "bad")]
        outcomes.record(self.db, runtime.flow, found, "tester")
        (conflict,) = labels.check(self.db, runtime.flow, "tester").new
        return conflict.id

    def pause(self, name: str, flow: str) -> None:
        with self.db.transaction() as conn:
            person = user_store.user_by_name(conn, name)
            people.pause(conn, person.id, flow, "default", "test pause", self.db.now(conn))

    def lift_all(self, name: str, flow: str) -> None:
        with self.db.transaction() as conn:
            person = user_store.user_by_name(conn, name)
            people.lift(conn, person.id, flow, "default", self.db.now(conn), "tester")

    def api(self, role: Role, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.client.cookies.clear()
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return self.client.request(method, url, headers=headers, follow_redirects=False, **kwargs)

    def web(
        self, role: Role, method: str, url: str, *, form: dict[str, str] | None = None, body: Any = None
    ) -> httpx.Response:
        self.client.cookies.clear()
        session, csrf = self.sessions[role]
        headers = {"Cookie": f"{security.cookie_name(security.SESSION_COOKIE, False)}={session}"}
        if form is not None:
            return self.client.request(
                method, url, headers=headers, data={**form, security.CSRF_FIELD: csrf}, follow_redirects=False
            )
        headers[security.CSRF_HEADER] = csrf
        return self.client.request(method, url, headers=headers, json=body, follow_redirects=False)


def outcome(response: httpx.Response, seen: Callable[[httpx.Response], bool] | None = None) -> str:
    """What a response says: refused for the role (403), as if absent (404, or left out of a list), or allowed."""
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return HIDDEN
    assert response.status_code < 400, (response.status_code, response.text[:500])
    if seen is not None and not seen(response):
        return HIDDEN
    return ALLOWED


def _reached(response: httpx.Response) -> httpx.Response:
    """A refusal on the merits (409: no challenger to weigh, no champion to go back to) came past the permission
    check: for this matrix, the operation was allowed."""
    return httpx.Response(200) if response.status_code == 409 else response


def _has_flow(flow: str) -> Callable[[httpx.Response], bool]:
    return lambda response: flow in response.text


def _claimed(flow: str, key: str = "task") -> Callable[[httpx.Response], bool]:
    def check(response: httpx.Response) -> bool:
        if response.status_code == 204:
            return False
        task = response.json()[key]
        return task is not None and task["flow"] == flow

    return check


def _fenced(env: Env, role: Role, flow: str, path: str, extra: dict[str, Any], *, web: bool) -> str:
    task_id, token = env.lease(role, flow)
    body = {"token": token, **extra}
    if web:
        return outcome(env.web(role, "POST", path.format(task_id=task_id), body={**body, "next": False}))
    return outcome(env.api(role, "POST", path.format(task_id=task_id), json=body))


def _held(env: Env, role: Role, flow: str, *, web: bool) -> str:
    """A lease on a task of ``flow`` (the caller's where they may review there), then the caller's list of theirs."""
    task_id, _ = env.lease(role, flow)
    if web:
        found = env.web(role, "GET", "/review/held")
        return outcome(found, lambda r: task_id in [t["id"] for t in r.json()["tasks"]])
    found = env.api(role, "GET", "/api/v1/tasks/held")
    return outcome(found, lambda r: task_id in [t["task"]["id"] for t in r.json()["tasks"]])


def _login(env: Env, role: Role, _flow: str) -> str:
    env.client.cookies.clear()
    page = env.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"name": env.people[role].name, "password": password_of(role), "csrf_token": token.group(1), "next": ""}
    return outcome(env.client.post("/login", data=form, follow_redirects=False))


def _logout(env: Env, role: Role, _flow: str) -> str:
    person = env.people[role]
    kept = env.sessions[role]
    env.sessions[role] = _session(env.db, person)  # a session of its own, ended by this request
    try:
        return outcome(env.web(role, "POST", "/logout", form={}))
    finally:
        env.sessions[role] = kept


def _reviewers(env: Env, role: Role, flow: str) -> str:
    name = env.people[role].name
    env.pause(name, flow)  # the caller's own figures, on this flow
    try:
        found = env.api(role, "GET", "/api/v1/reviewers")
        return outcome(found, lambda r: any(p["flow"] == flow for p in r.json()["pauses"]))
    finally:
        env.lift_all(name, flow)


def _paused(env: Env, flow: str, lift: Callable[[], httpx.Response]) -> str:
    """Pause the flow's helper, ask to lift it, and lift it anyway afterwards (they hold the other probes' leases)."""
    env.pause(HELPERS[flow], flow)
    try:
        return outcome(lift())
    finally:
        env.lift_all(HELPERS[flow], flow)


Probe = Callable[[Env, Role, str], str]

PROBES: dict[str, Probe] = {
    "GET /healthz": lambda env, role, flow: outcome(env.api(role, "GET", "/healthz")),
    "GET /readyz": lambda env, role, flow: outcome(env.api(role, "GET", "/readyz")),
    "GET /metrics": lambda env, role, flow: outcome(env.api(role, "GET", "/metrics")),
    "GET /api/v1/flows": lambda env, role, flow: outcome(
        env.api(role, "GET", "/api/v1/flows"), lambda r: flow in [f["name"] for f in r.json()["flows"]]
    ),
    "POST /api/v1/flows/{flow}/cases": lambda env, role, flow: outcome(
        env.api(role, "POST", f"/api/v1/flows/{flow}/cases", json={"fields": {"score": 0.9, "group": "a"}})
    ),
    "GET /api/v1/cases/{case_id}": lambda env, role, flow: outcome(
        env.api(role, "GET", f"/api/v1/cases/{env.case(flow)}")
    ),
    "GET /api/v1/flows/{flow}/decisions": lambda env, role, flow: outcome(
        env.api(role, "GET", f"/api/v1/flows/{flow}/decisions", params={"limit": 10})
    ),
    "GET /api/v1/tasks": lambda env, role, flow: outcome(
        env.api(role, "GET", "/api/v1/tasks", params={"limit": 1000}),
        lambda r: any(t["flow"] == flow for t in r.json()["tasks"]),
    ),
    "GET /api/v1/queues": lambda env, role, flow: outcome(
        env.api(role, "GET", "/api/v1/queues"), lambda r: any(q["flow"] == flow for q in r.json()["queues"])
    ),
    "GET /api/v1/reviewers": _reviewers,
    "POST /api/v1/tasks/claim": lambda env, role, flow: outcome(
        env.api(role, "POST", "/api/v1/tasks/claim", json={}) if env.task(flow) else httpx.Response(500),
        _claimed(flow),
    ),
    "GET /api/v1/tasks/held": lambda env, role, flow: _held(env, role, flow, web=False),
    "POST /api/v1/tasks/{task_id}/heartbeat": lambda env, role, flow: _fenced(
        env, role, flow, "/api/v1/tasks/{task_id}/heartbeat", {}, web=False
    ),
    "POST /api/v1/tasks/{task_id}/submit": lambda env, role, flow: _fenced(
        env, role, flow, "/api/v1/tasks/{task_id}/submit", {"label": "good"}, web=False
    ),
    "POST /api/v1/tasks/{task_id}/skip": lambda env, role, flow: _fenced(
        env, role, flow, "/api/v1/tasks/{task_id}/skip", {"reason": "not sure"}, web=False
    ),
    "POST /api/v1/tasks/{task_id}/release": lambda env, role, flow: _fenced(
        env, role, flow, "/api/v1/tasks/{task_id}/release", {}, web=False
    ),
    "POST /api/v1/tasks/{task_id}/assign": lambda env, role, flow: outcome(
        env.api(role, "POST", f"/api/v1/tasks/{env.task(flow)}/assign", json={"reviewer": HELPERS[flow]})
    ),
    "PUT /api/v1/users/{name}/skills": lambda env, role, flow: outcome(
        env.api(role, "PUT", f"/api/v1/users/{HELPERS[flow]}/skills", json={"skills": ["fraud"]})
    ),
    "POST /api/v1/users/{name}/conflicts": lambda env, role, flow: outcome(
        env.api(
            role,
            "POST",
            f"/api/v1/users/{HELPERS[flow]}/conflicts",
            json={"case_id": env.case(flow), "reason": "knows the applicant"},
        )
    ),
    "DELETE /api/v1/users/{name}/pauses/{flow}/{queue}": lambda env, role, flow: _paused(
        env,
        flow,
        lambda: env.api(role, "DELETE", f"/api/v1/users/{HELPERS[flow]}/pauses/{flow}/default"),
    ),
    "POST /api/v1/flows/{flow}/gold": lambda env, role, flow: outcome(
        env.api(
            role,
            "POST",
            f"/api/v1/flows/{flow}/gold",
            json={"cases": [{"fields": {"score": 0.9, "group": "a"}, "label": "bad"}]},
        )
    ),
    "GET /api/v1/flows/{flow}/metrics": lambda env, role, flow: outcome(
        env.api(role, "GET", f"/api/v1/flows/{flow}/metrics")
    ),
    "POST /api/v1/flows/{flow}/outcomes": lambda env, role, flow: outcome(
        env.api(role, "POST", f"/api/v1/flows/{flow}/outcomes", json={"case_id": env.case(flow), "label": "bad"})
    ),
    "POST /api/v1/flows/{flow}/labels/check": lambda env, role, flow: outcome(
        env.api(role, "POST", f"/api/v1/flows/{flow}/labels/check")
    ),
    "GET /api/v1/flows/{flow}/labels/conflicts": lambda env, role, flow: outcome(
        env.api(role, "GET", f"/api/v1/flows/{flow}/labels/conflicts")
    ),
    "POST /api/v1/flows/{flow}/labels/conflicts/{conflict_id}/resolve": lambda env, role, flow: outcome(
        env.api(
            role,
            "POST",
            f"/api/v1/flows/{flow}/labels/conflicts/{env.conflict(flow)}/resolve",
            json={"label": "bad", "reason": "the court's ruling"},
        )
    ),
    "GET /api/v1/flows/{flow}/models": lambda env, role, flow: outcome(
        env.api(role, "GET", f"/api/v1/flows/{flow}/models")
    ),
    "GET /api/v1/flows/{flow}/models/{version}": lambda env, role, flow: outcome(
        env.api(role, "GET", f"/api/v1/flows/{flow}/models/test-1")
    ),
    "POST /api/v1/flows/{flow}/models/{version}/promote": lambda env, role, flow: outcome(  # the champion already
        env.api(role, "POST", f"/api/v1/flows/{flow}/models/test-1/promote", json={"reason": "keep it"})
    ),
    "POST /api/v1/flows/{flow}/models/{version}/shadow": lambda env, role, flow: outcome(  # the champion already
        _reached(env.api(role, "POST", f"/api/v1/flows/{flow}/models/test-1/shadow", json={"reason": "watch it"}))
    ),
    "POST /api/v1/flows/{flow}/models/{version}/canary": lambda env, role, flow: outcome(  # the champion already
        _reached(env.api(role, "POST", f"/api/v1/flows/{flow}/models/test-1/canary", json={"reason": "try it"}))
    ),
    "GET /api/v1/flows/{flow}/challenger": lambda env, role, flow: outcome(
        env.api(role, "GET", f"/api/v1/flows/{flow}/challenger")
    ),
    "GET /api/v1/flows/{flow}/models/{version}/evidence": lambda env, role, flow: outcome(  # nothing to weigh
        _reached(env.api(role, "GET", f"/api/v1/flows/{flow}/models/test-1/evidence"))
    ),
    "POST /api/v1/flows/{flow}/models/rollback": lambda env, role, flow: outcome(  # nothing to go back to
        _reached(env.api(role, "POST", f"/api/v1/flows/{flow}/models/rollback", json={"reason": "go back"}))
    ),
    "GET /api/v1/audit/events": lambda env, role, flow: outcome(env.api(role, "GET", "/api/v1/audit/events")),
    "GET /api/v1/webhooks/deliveries": lambda env, role, flow: outcome(
        env.api(role, "GET", "/api/v1/webhooks/deliveries")
    ),
    "POST /api/v1/webhooks/deliveries/{delivery_id}/replay": lambda env, role, flow: outcome(
        env.api(role, "POST", f"/api/v1/webhooks/deliveries/msg_{'0' * 32}/replay")
    ),
    "GET /": lambda env, role, flow: outcome(env.web(role, "GET", "/")),
    "GET /login": lambda env, role, flow: outcome(env.web(role, "GET", "/login")),
    "POST /login": _login,
    "POST /logout": _logout,
    "GET /account": lambda env, role, flow: outcome(env.web(role, "GET", "/account")),
    "GET /review": lambda env, role, flow: outcome(
        env.web(role, "GET", f"/review?queue={flow}/default"), _has_flow(f'data-queue="{flow}/default"')
    ),
    "POST /review/next": lambda env, role, flow: outcome(
        env.web(role, "POST", "/review/next", body={}) if env.task(flow) else httpx.Response(500), _claimed(flow)
    ),
    "GET /review/held": lambda env, role, flow: _held(env, role, flow, web=True),
    "POST /review/tasks/{task_id}/resume": lambda env, role, flow: _fenced(
        env, role, flow, "/review/tasks/{task_id}/resume", {}, web=True
    ),
    "POST /review/tasks/{task_id}/submit": lambda env, role, flow: _fenced(
        env, role, flow, "/review/tasks/{task_id}/submit", {"label": "good"}, web=True
    ),
    "POST /review/tasks/{task_id}/skip": lambda env, role, flow: _fenced(
        env, role, flow, "/review/tasks/{task_id}/skip", {"reason": "not sure"}, web=True
    ),
    "POST /review/tasks/{task_id}/heartbeat": lambda env, role, flow: _fenced(
        env, role, flow, "/review/tasks/{task_id}/heartbeat", {}, web=True
    ),
    "POST /review/tasks/{task_id}/release": lambda env, role, flow: _fenced(
        env, role, flow, "/review/tasks/{task_id}/release", {}, web=True
    ),
    "GET /lead": lambda env, role, flow: outcome(env.web(role, "GET", "/lead"), _has_flow(flow)),
    "POST /lead/assign": lambda env, role, flow: outcome(
        env.web(role, "POST", "/lead/assign", form={"task": str(env.task(flow)), "reviewer": HELPERS[flow]})
    ),
    "POST /lead/pauses/lift": lambda env, role, flow: _paused(
        env,
        flow,
        lambda: env.web(
            role, "POST", "/lead/pauses/lift", form={"reviewer": HELPERS[flow], "flow": flow, "queue": "default"}
        ),
    ),
    "POST /lead/labels/check": lambda env, role, flow: outcome(
        env.web(role, "POST", "/lead/labels/check", form={"flow": flow})
    ),
    "POST /lead/labels/resolve": lambda env, role, flow: outcome(
        env.web(
            role,
            "POST",
            "/lead/labels/resolve",
            form={"flow": flow, "conflict": str(env.conflict(flow)), "label": "bad", "reason": "the court's ruling"},
        )
    ),
    "GET /owner": lambda env, role, flow: outcome(env.web(role, "GET", "/owner"), _has_flow(flow)),
    "GET /owner/flows/{flow}": lambda env, role, flow: outcome(env.web(role, "GET", f"/owner/flows/{flow}")),
    "GET /owner/flows/{flow}/charts/{name}.svg": lambda env, role, flow: outcome(
        env.web(role, "GET", f"/owner/flows/{flow}/charts/cases.svg")
    ),
    "GET /owner/flows/{flow}/models/{version}/evidence": lambda env, role, flow: outcome(  # nothing to weigh
        _reached(env.web(role, "GET", f"/owner/flows/{flow}/models/test-1/evidence"))
    ),
    "GET /audit": lambda env, role, flow: (
        lambda case_id: outcome(
            env.web(role, "GET", f"/audit?case={case_id}"), lambda r: f"<h3>Case {case_id} " in r.text
        )
    )(env.case(flow)),
    "POST /audit/verify": lambda env, role, flow: outcome(env.web(role, "POST", "/audit/verify", form={})),
    "GET /audit/cases/{case_id}.json": lambda env, role, flow: outcome(
        env.web(role, "GET", f"/audit/cases/{env.case(flow)}.json")
    ),
    "GET /audit/events.{kind}": lambda env, role, flow: outcome(env.web(role, "GET", "/audit/events.jsonl")),
}


def password_of(role: Role) -> str:
    return f"{role.value}-correct-horse-battery"


def _session(db: Database, person: User) -> tuple[str, str]:
    """A live web session for ``person`` (made directly: logging in hashes a password, slowly on purpose)."""
    session, csrf = f"session-{person.name}-{next(_SESSIONS)}", f"csrf-{person.name}"
    with db.transaction() as conn:
        now = db.now(conn)
        user_store.add_session(conn, person.id, users.hash_token(session), csrf, now, now + timedelta(hours=1))
    return session, csrf


_SESSIONS = itertools.count(1)


@pytest.fixture
def env(db: Database, tmp_path: Path) -> Iterator[Env]:
    project = make_project(tmp_path, db.url, flows={OWN: flow_document(), OTHER: flow_document()})
    project = project.model_copy(update={"workload": project.workload.model_copy(update={"max_leases": 100})})
    people_ = {}
    tokens = {}
    for role in Role:
        person, tokens[role] = users.create_user(db, f"{role.value}-1", role, "test", [OWN])
        people_[role] = person
    users.set_password(db, people_[Role.LEAD].name, password_of(Role.LEAD), "test")
    helpers = {flow: users.create_user(db, name, Role.REVIEWER, "test", [flow])[0] for flow, name in HELPERS.items()}
    with TestClient(create_app(project)) as client:
        runtimes = client.app.state.signoff.runtimes  # type: ignore[attr-defined]
        sessions = {role: _session(db, person) for role, person in people_.items()}
        yield Env(client, db, project, runtimes, people_, tokens, sessions, helpers)


def test_every_operation_is_in_the_documented_matrix(env: Env) -> None:
    table = documented()
    served = operations(env.client.app)  # type: ignore[arg-type]
    assert sorted(served - set(table)) == [], "operations missing from docs/reference/permissions.md"
    assert sorted(set(table) - served) == [], "documented operations the app does not serve"
    assert sorted(set(table) - set(PROBES)) == [], "documented operations this test cannot probe yet"


@pytest.mark.slow  # every operation as every role, over HTTP
def test_every_role_on_its_own_flow_and_another_gets_what_the_matrix_says(env: Env) -> None:
    table = documented()
    wrong = []
    for operation, cells in table.items():
        for role, cell in cells.items():
            if operation == "POST /login" and role is not Role.LEAD:
                continue  # one login shows the form works; each costs a deliberately slow password hash
            want = expected(cell)
            got = (PROBES[operation](env, role, OWN), PROBES[operation](env, role, OTHER))
            if got != want:
                wrong.append(f"{operation} as {role.value}: expected {want}, got {got}")
    assert wrong == []


def test_what_needs_a_role_on_every_flow_is_open_to_it(env: Env, db: Database) -> None:
    everywhere = {
        role: users.create_user(db, f"{role.value}-all", role, "test")[1] for role in (Role.AUDITOR, Role.LEAD)
    }
    auditor = {"Authorization": f"Bearer {everywhere[Role.AUDITOR]}"}
    response = env.client.get("/api/v1/audit/events", headers=auditor)
    assert response.status_code == 200, response.text
    lead = {"Authorization": f"Bearer {everywhere[Role.LEAD]}"}
    response = env.client.get("/api/v1/webhooks/deliveries", headers=lead)
    assert response.status_code == 200 and response.json() == {"deliveries": []}, response.text
    response = env.client.post(f"/api/v1/webhooks/deliveries/msg_{'0' * 32}/replay", headers=lead)
    assert response.status_code == 404, response.text  # past the permission check: there is no such delivery
    for role in (Role.AUDITOR,):  # the other role on every flow is still refused
        refused = env.client.get("/api/v1/webhooks/deliveries", headers={"Authorization": f"Bearer {everywhere[role]}"})
        assert refused.status_code == 403, refused.text
