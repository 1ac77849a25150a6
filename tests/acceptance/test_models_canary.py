"""Shadow and canary end to end, on both databases: `signoff models shadow|canary|watch|rollback` as real processes,
the API over HTTP and the owner page, with real models registered in the store (helpers.promotion)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.processes import environment, signoff
from helpers.promotion import actions, gated_project, register
from signoff import intake, users
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.learning import canary
from signoff.store.database import Database
from signoff.web import security


@pytest.mark.slow  # runs signoff processes
def test_shadow_canary_watch_and_rollback_from_the_command_line(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    better = register(db, project, "better")
    env, path = environment(db.url), str(project.path)

    shadowed = signoff("models", "shadow", "test-flow", better, "--reason", "watch it", "-p", path, env=env)
    assert shadowed.returncode == 0, shadowed.stderr
    assert f"test-flow {better} is in shadow" in shadowed.stdout
    watched = signoff("models", "watch", "test-flow", "--json", "-p", path, env=env)
    assert watched.returncode == 0, watched.stderr
    body = json.loads(watched.stdout)
    assert (body["version"], body["status"], body["cases"], body["worse"]) == (better, "shadow", 0, False)

    bad = signoff(
        "models", "canary", "test-flow", better, "--reason", "x", "--sticky-by", "amount", "-p", path, env=env
    )
    assert bad.returncode != 0 and "'amount' is not a field of type string/category/integer" in bad.stderr
    started = signoff(
        "models", "canary", "test-flow", better, "--reason", "shadow looked fine", "--share", "0.25",
        "--sticky-by", "group", "-p", path, env=env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert f"test-flow {better} is the canary for 25% of the cases (kept together by group)" in started.stdout
    text = signoff("models", "watch", "test-flow", "-p", path, env=env)
    assert text.returncode == 0, text.stderr
    assert f"test-flow {better}: canary for 25% of the cases, beside the champion test-1" in text.stdout
    assert "no labelled case yet" in text.stdout

    ended = signoff("models", "rollback", "test-flow", "--reason", "enough", "-p", path, env=env)
    assert ended.returncode == 0, ended.stderr
    assert f"test-flow {better} is a candidate again; test-1 routes every case." in ended.stdout
    listed = json.loads(signoff("models", "list", "test-flow", "--json", "-p", path, env=env).stdout)
    assert {v["version"]: v["status"] for v in listed} == {better: "candidate", "test-1": "champion"}
    assert actions(db) == [
        "model.status_changed",
        "model.shadow_started",
        "model.status_changed",
        "model.canary_started",
        "model.status_changed",
        "model.rolled_back",
    ]


def test_the_api_starts_a_shadow_and_a_canary_shows_its_evidence_and_ends_it(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    better = register(db, project, "better")
    base = "/api/v1/flows/test-flow/models"
    with TestClient(create_app(project)) as client:
        api = Api(client, db)
        none = client.get("/api/v1/flows/test-flow/challenger", headers=api.as_(Role.AUDITOR))
        assert none.status_code == 200 and none.json() == {"running": None}
        assert api.post(f"{base}/{better}/shadow", Role.LEAD, json={"reason": "x"}).status_code == 403
        assert api.post(f"{base}/{better}/shadow", Role.OWNER, json={}).status_code == 422
        assert api.post(f"{base}/nope/shadow", Role.OWNER, json={"reason": "x"}).status_code == 404
        shadowed = api.post(f"{base}/{better}/shadow", Role.OWNER, json={"reason": "watch it"})
        assert shadowed.status_code == 200, shadowed.text
        assert shadowed.json()["status"] == "shadow"

        too_big = api.post(f"{base}/{better}/canary", Role.OWNER, json={"reason": "x", "share": 1.0})
        assert too_big.status_code == 422
        started = api.post(f"{base}/{better}/canary", Role.OWNER, json={"reason": "try", "share": 0.2})
        assert started.status_code == 200, started.text
        assert (started.json()["status"], started.json()["canary_share"]) == ("canary", 0.2)
        champion = api.post(f"{base}/test-1/canary", Role.OWNER, json={"reason": "x"})
        assert champion.status_code == 409 and "is the champion" in champion.text

        intake.refresh(db, client.app.state.signoff.runtimes)  # what the server does every second
        live = [{"external_id": f"live-{i}", "fields": {"score": i / 50, "group": "a"}} for i in range(50)]
        case = api.post("/api/v1/flows/test-flow/cases", Role.INTAKE, json={"cases": live})
        assert case.status_code in (200, 201), case.text
        running = client.get("/api/v1/flows/test-flow/challenger", headers=api.as_(Role.AUDITOR)).json()["running"]
        assert (running["version"], running["status"], running["share"]) == (better, "canary", 0.2)
        assert 0 < running["cases"] < 50 and running["worse"] is False and running["labelled"] == 0

        back = api.post(f"{base}/rollback", Role.OWNER, json={"reason": "enough"})
        assert back.status_code == 200, back.text
        assert (back.json()["previous"]["version"], back.json()["version"]["version"]) == (better, "test-1")
        assert back.json()["previous"]["status"] == "candidate"


def test_the_owner_page_shows_the_canary_its_share_and_its_running_evidence(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    flow = project.flow("test-flow")
    better = register(db, project, "better")
    with TestClient(create_app(project)) as client:
        users.create_user(db, "olga", Role.OWNER, "test")
        users.set_password(db, "olga", "a long enough password", "test")
        session = users.login(db, "olga", "a long enough password")
        client.cookies.set(security.cookie_name(security.SESSION_COOKIE, False), session.session_id)
        assert "No shadow or canary: the champion scores every case of this flow alone." in client.get("/owner").text
        canary.canary(db, project, flow, better, actor="olga", reason="try <it>", share=0.3, sticky_by="group")
        page = client.get("/owner").text
        assert f"Canary {better}</h3>" in page
        assert "routes 30.0% of the cases, kept together by\n        group; the champion scores them beside it" in page
        assert f"{better}: no labelled case yet" in page
        decisions = page[page.index("Candidates and promotion decisions") :]
        assert "canary started" in decisions and "try &lt;it&gt;" in decisions
        assert f"Evidence for {better}" in decisions
