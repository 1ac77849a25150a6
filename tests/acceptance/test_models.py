"""The model registry end to end: `signoff models list|show|promote` as a real process, and the API, the owner
page and the review workspace over HTTP, on both databases. A registered candidate with a recorded training set,
with no held-out evidence to pass the gate on, is refused, then promoted over the gate; the two open review cases
get the new champion's score beside the old one; the server switches to it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers.api import Api
from helpers.builders import make_project
from helpers.processes import environment, signoff
from helpers.registry import fitted, training_set, training_tables
from signoff import intake, users
from signoff.api.app import create_app
from signoff.config import Project
from signoff.domain import Role
from signoff.intake import validate_case
from signoff.learning import registry
from signoff.store.database import Database
from signoff.store.schema import audit_events
from signoff.web import security

EXAMPLES = [(1, "bad", "review", "train"), (3, "good", "audit", "train"), (2, "bad", "outcome", "validation")]


@dataclass
class Registered:
    project: Project
    flagged: list[int]
    version: str


def registered(db: Database, tmp_path: Path) -> Registered:
    """Three cases (two flagged by the band), then a candidate trained on recorded training set 7."""
    project = make_project(tmp_path, db.url)
    flow = project.flow("test-flow")
    runtime = intake.prepare(db, project)["test-flow"]
    found = []
    for i, score in enumerate((0.45, 0.05, 0.55)):
        case, _ = validate_case(flow, f"c{i}", {"score": score, "group": "a"}, f"cases[{i}]")
        assert case is not None
        found.append(case)
    submitted = intake.submit(db, runtime, found, "tester")
    training_tables(db, EXAMPLES)
    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={"auc": 0.91}, parent=None, actor="t"
    )
    return Registered(project, [int(s.case_id) for s in submitted if s.verdict == "review"], new.version)


@pytest.mark.slow  # runs signoff processes
def test_list_show_and_promote_from_the_command_line(db: Database, tmp_path: Path) -> None:
    setup = registered(db, tmp_path)
    env = environment(db.url)
    project = str(setup.project.path)

    listed = signoff("models", "list", "test-flow", "-p", project, env=env)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if line.count("│") > 2}
    assert "champion" in lines["test-1"] and "candidate" in lines[setup.version] and "auc 0.91" in lines[setup.version]

    shown = signoff("models", "show", "test-flow", setup.version, "--json", "-p", project, env=env)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["status"] == "candidate" and body["training_set_id"] == 7
    examples = [(e["case_id"], e["label"], e["source"], e["part"]) for e in body["lineage"]["examples"]]
    assert examples == sorted(EXAMPLES)
    text = signoff("models", "show", "test-flow", setup.version, "-p", project, env=env).stdout
    assert "examples: 3 (audit 1, outcome 1, review 1)" in text and "training set: 7" in text
    plain = signoff("models", "show", "test-flow", "test-1", "-p", project, env=env)
    assert "lineage: none" in plain.stdout and "fingerprint: - (a flow file's model)" in plain.stdout

    refused = signoff("models", "promote", "test-flow", setup.version, "-p", project, env=env)
    assert refused.returncode == 2 and "--reason" in refused.stderr
    missing = signoff("models", "promote", "test-flow", "nope", "--reason", "x", "-p", project, env=env)
    assert missing.returncode == 1 and "model version 'test-flow/nope' does not exist" in missing.stderr
    unknown = signoff("models", "list", "no-such-flow", "-p", project, env=env)
    assert unknown.returncode == 1 and "flow 'no-such-flow' does not exist" in unknown.stderr

    reason = ("--reason", "better AUC")
    gated = signoff("models", "promote", "test-flow", setup.version, *reason, "-p", project, env=env)
    assert gated.returncode == 1 and "the promotion gate refused" in gated.stderr
    assert "evidence: flow 'test-flow' has no held-out human-verified label yet" in gated.stderr
    promoted = signoff("models", "promote", "test-flow", setup.version, *reason, "--override", "-p", project, env=env)
    assert promoted.returncode == 0, promoted.stderr
    assert "is the champion (overriding the gate's refusal); 2 open review cases re-scored" in promoted.stdout
    after = json.loads(signoff("models", "list", "test-flow", "--json", "-p", project, env=env).stdout)
    assert {v["version"]: (v["status"], v["status_changed_by"]) for v in after} == {
        setup.version: ("champion", "cli"),
        "test-1": ("retired", "cli"),
    }
    with db.transaction(write=False) as conn:
        reasons = conn.execute(select(audit_events.c.data).where(audit_events.c.action == "model.status_changed"))
        said = [d.get("reason") for d in reasons.scalars()]
        assert "better AUC (gate overridden: evidence: flow 'test-flow' has no held-out" in said[-1]


@pytest.fixture
def served(db: Database, tmp_path: Path) -> Iterator[tuple[Api, Registered]]:
    setup = registered(db, tmp_path)
    with TestClient(create_app(setup.project)) as client:
        yield Api(client, db), setup


def test_the_api_lists_shows_and_promotes_and_the_server_switches(served: tuple[Api, Registered]) -> None:
    api, setup = served
    base = "/api/v1/flows/test-flow/models"
    listed = api.client.get(base, headers=api.as_(Role.OWNER))
    assert listed.status_code == 200
    assert [(v["version"], v["status"]) for v in listed.json()["versions"]] == [
        (setup.version, "candidate"),
        ("test-1", "champion"),
    ]
    assert api.client.get(base, headers=api.as_(Role.REVIEWER)).status_code == 403
    assert api.client.get("/api/v1/flows/nope/models", headers=api.as_(Role.OWNER)).status_code == 404
    shown = api.client.get(f"{base}/{setup.version}", headers=api.as_(Role.AUDITOR)).json()
    assert shown["lineage"]["sources"] == {"audit": 1, "outcome": 1, "review": 1}
    assert [e["case_id"] for e in shown["lineage"]["examples"]] == [1, 2, 3]
    assert api.client.get(f"{base}/test-1", headers=api.as_(Role.OWNER)).json()["lineage"] is None
    assert api.client.get(f"{base}/nope", headers=api.as_(Role.OWNER)).status_code == 404
    assert api.client.get(f"{base}/a%00b", headers=api.as_(Role.OWNER)).status_code == 422

    promote = f"{base}/{setup.version}/promote"
    assert api.post(promote, Role.LEAD, json={"reason": "x"}).status_code == 403
    assert api.post(promote, Role.OWNER, json={"reason": ""}).status_code == 422
    assert api.post(promote, Role.OWNER, json={}).status_code == 422
    refused = api.post(promote, Role.OWNER, json={"reason": "better AUC"})
    assert refused.status_code == 409 and refused.json()["error"]["type"] == "conflict"
    [problem] = refused.json()["error"]["problems"]
    assert problem["location"] == "gate" and problem["reason"].startswith("evidence: flow 'test-flow' has no held-out")
    done = api.post(promote, Role.OWNER, json={"reason": "better AUC", "override": True})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["version"]["status"], body["rescored"], body["gate"], body["overridden"]) == (
        "champion",
        2,
        None,
        True,
    )

    deadline = time.monotonic() + 15  # the server's refresh timer picks the new champion up
    while time.monotonic() < deadline:
        flows = api.client.get("/api/v1/flows", headers=api.as_(Role.OWNER)).json()["flows"]
        if flows[0]["model_version"] == setup.version:
            break
        time.sleep(0.2)
    assert flows[0]["model_version"] == setup.version
    routed = api.post("/api/v1/flows/test-flow/cases", json={"fields": {"score": 0.45, "group": "a"}}).json()
    case = api.client.get(f"/api/v1/cases/{routed['case']['case_id']}", headers=api.as_(Role.OWNER)).json()
    assert [p["model_version"] for p in case["predictions"]] == [setup.version]

    # an open case re-scored: the old and the new score side by side
    old = api.client.get(f"/api/v1/cases/{setup.flagged[0]}", headers=api.as_(Role.OWNER)).json()
    assert [p["model_version"] for p in old["predictions"]] == ["test-1", setup.version]
    assert old["routes"][0]["prediction_id"] == old["predictions"][0]["id"]


def _login(api: Api, name: str, role: Role) -> dict[str, str]:
    users.create_user(api.db, name, role, "test")
    users.set_password(api.db, name, "a long enough password", "test")
    session = users.login(api.db, name, "a long enough password")
    api.client.cookies.set(security.cookie_name(security.SESSION_COOKIE, False), session.session_id)
    return {security.CSRF_HEADER: session.csrf_token}


def test_the_owner_page_and_the_review_workspace_show_the_registry(served: tuple[Api, Registered]) -> None:
    api, setup = served
    registry.promote(
        api.db, setup.project, setup.project.flow("test-flow"), setup.version, actor="owen", reason="better"
    )
    _login(api, "olga", Role.OWNER)
    page = api.client.get("/owner")
    assert page.status_code == 200
    row = page.text[page.text.index(f'<th scope="row">{setup.version}</th>') :].split("</tr>")[0]
    assert "champion" in row and ", by owen" in row
    assert "training set 7: 3 labels" in row and "audit 1, outcome 1, review 1" in row and "auc 0.910" in row
    old_row = page.text[page.text.index('<th scope="row">test-1</th>') :].split("</tr>")[0]
    assert "retired" in old_row and "the flow file" in old_row

    api.client.cookies.clear()
    headers = _login(api, "rita", Role.REVIEWER)
    html = api.client.post("/review/next", headers=headers).json()["html"]
    assert "Scores of this case, by model version" in html
    assert "routed this case" in html and "new champion, re-scored" in html
    assert "test-1" in html and setup.version in html
