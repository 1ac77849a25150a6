"""Outcomes and label validation over HTTP, and the lead page's label conflicts: an outcome posted by an intake
service contradicts a reviewer; the lead checks the flow's labels, sees the conflict and resolves it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers.api import Api
from helpers.builders import case, flow_document, make_project
from signoff import users
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.learning import labels
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.schema import audit_events, outcomes
from signoff.web import security

OUTCOMES = "/api/v1/flows/test-flow/outcomes"
CHECK = "/api/v1/flows/test-flow/labels/check"
CONFLICTS = "/api/v1/flows/test-flow/labels/conflicts"


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    project = make_project(tmp_path, db.url, flows={"test-flow": flow_document(), "other-flow": flow_document()})
    with TestClient(create_app(project)) as client:
        yield Api(client, db)


def _reviewed(api: Api, external_id: str, label: str) -> int:
    """A case sent to review and decided by the reviewer with ``label``; its id."""
    submitted = api.post("/api/v1/flows/test-flow/cases", json=case(0.5, external_id=external_id))
    assert submitted.status_code == 201, submitted.text
    claimed = api.post("/api/v1/tasks/claim", Role.REVIEWER).json()
    task, token = claimed["task"]["id"], claimed["lease"]["token"]
    done = api.post(f"/api/v1/tasks/{task}/submit", Role.REVIEWER, json={"token": token, "label": label})
    assert done.status_code == 200, done.text
    return int(submitted.json()["case"]["case_id"])


def _outcome_rows(db: Database) -> int:
    with db.transaction(write=False) as conn:
        return conn.execute(select(func.count()).select_from(outcomes)).scalar_one()


def test_an_outcome_against_a_reviewer_is_a_conflict_the_lead_resolves(api: Api, db: Database) -> None:
    case_id = _reviewed(api, "loan-1", "good")
    one = {"external_id": "loan-1", "label": "bad", "observed_at": "2026-01-15T00:00:00Z", "source": "bureau"}
    posted = api.post(OUTCOMES, json=one)
    assert posted.status_code == 201, posted.text
    assert posted.json()["outcome"] | {"id": 0} == {
        "id": 0,
        "case_id": case_id,
        "label": "bad",
        "source": "bureau",
        "observed_at": "2026-01-15T00:00:00+00:00",
        "created": True,
    }
    replay = api.post(OUTCOMES, json=one)
    assert replay.status_code == 200 and replay.json()["outcome"]["created"] is False
    changed = api.post(OUTCOMES, json={**one, "label": "good"})
    assert changed.status_code == 409
    assert "'bad'" in changed.json()["error"]["message"] and "'good'" in changed.json()["error"]["message"]
    assert _outcome_rows(db) == 1

    checked = api.post(CHECK, Role.LEAD)
    assert checked.status_code == 200, checked.text
    (conflict,) = checked.json()["new"]
    assert (conflict["case_id"], conflict["kind"], conflict["resolved"]) == (case_id, "outcome", False)
    assert conflict["details"]["human"] == {"label": "good", "decided_by": "reviewer"}
    assert api.post(CHECK, Role.OWNER).json()["new"] == []  # re-checking duplicates nothing
    listed = api.client.get(CONFLICTS, headers=api.as_(Role.LEAD)).json()["conflicts"]
    assert [c["id"] for c in listed] == [conflict["id"]]

    url = f"{CONFLICTS}/{conflict['id']}/resolve"
    refused = api.post(url, Role.LEAD, json={"label": "maybe", "reason": ""})
    assert refused.status_code == 422
    assert {p["location"] for p in refused.json()["error"]["problems"]} == {"label", "reason"}
    assert api.post(url, Role.REVIEWER, json={"label": "bad", "reason": "x"}).status_code == 403
    resolved = api.post(url, Role.LEAD, json={"label": "bad", "reason": "the bureau's record is final"})
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["resolved_label"], resolved.json()["resolved_by"]) == ("bad", "lead")
    assert api.client.get(CONFLICTS, headers=api.as_(Role.LEAD)).json()["conflicts"] == []
    every = api.client.get(CONFLICTS, headers=api.as_(Role.LEAD), params={"status": "resolved"}).json()
    assert [c["reason"] for c in every["conflicts"]] == ["the bureau's record is final"]
    with db.transaction(write=False) as conn:
        (label,) = labels.training_labels(conn, "test-flow", until=db.now(conn) + timedelta(seconds=1))
        actions = list(conn.execute(select(audit_events.c.action)).scalars())
    assert (label.case_id, label.label, label.source.value) == (case_id, "bad", "resolution")
    assert [a for a in actions if a.startswith(("outcome.", "label_conflict."))] == [
        "outcome.recorded",
        "label_conflict.found",
        "label_conflict.resolved",
    ]


def test_a_batch_of_outcomes_is_refused_whole_with_every_problem_located(api: Api, db: Database) -> None:
    mine = _reviewed(api, "loan-1", "good")
    other = api.post("/api/v1/flows/other-flow/cases", json=case(0.1)).json()["case"]["case_id"]
    batch = {
        "outcomes": [
            {"case_id": mine, "label": "bad"},
            {"case_id": 987654, "label": "bad"},
            {"case_id": other, "label": "bad"},
            {"case_id": mine, "label": "maybe", "source": "court"},
            {"case_id": mine, "label": "bad", "observed_at": "soon", "source": "late"},
            {"case_id": mine, "label": "bad", "observed_at": "2999-01-01T00:00:00Z", "source": "future"},
            {"external_id": "no-such-loan", "label": "bad"},
            {"label": "bad"},
            {"case_id": mine, "label": "bad", "colour": "red", "source": "x"},
            "loan-1 went bad",
        ]
    }
    refused = api.post(OUTCOMES, json=batch)
    assert refused.status_code == 422, refused.text
    located = {p["location"]: p["reason"] for p in refused.json()["error"]["problems"]}
    assert set(located) == {
        "outcomes[1].case_id",
        "outcomes[2].case_id",
        "outcomes[3].label",
        "outcomes[4].observed_at",
        "outcomes[5].observed_at",
        "outcomes[6].external_id",
        "outcomes[7]",
        "outcomes[8].colour",
        "outcomes[9]",
    }
    assert "not of flow 'test-flow'" in located["outcomes[2].case_id"]
    assert _outcome_rows(db) == 0
    good = api.post(OUTCOMES, json={"outcomes": [batch["outcomes"][0], {**batch["outcomes"][0], "source": "court"}]})
    assert good.status_code == 201 and [o["source"] for o in good.json()["outcomes"]] == ["default", "court"]
    assert api.post(OUTCOMES, Role.REVIEWER, json=batch["outcomes"][0]).status_code == 403
    assert api.post(OUTCOMES, Role.OWNER, json=batch["outcomes"][0]).status_code == 200  # a replay


def test_the_lead_page_lists_open_conflicts_and_resolves_them(api: Api, db: Database) -> None:
    case_id = _reviewed(api, "loan-1", "good")
    assert api.post(OUTCOMES, json={"case_id": case_id, "label": "bad"}).status_code == 201
    users.set_password(db, "lead", "lead-correct-horse-battery", "test")
    with db.transaction() as conn:
        person = user_store.user_by_name(conn, "lead")
        now = db.now(conn)
        user_store.add_session(conn, person.id, users.hash_token("s-lead"), "csrf-lead", now, now + timedelta(hours=1))
    cookie = {"Cookie": f"{security.cookie_name(security.SESSION_COOKIE, False)}=s-lead"}
    page = api.client.get("/lead", headers=cookie)
    assert page.status_code == 200 and "Label conflicts" in page.text and "No label conflict is open." in page.text

    checked = api.client.post(
        "/lead/labels/check",
        headers=cookie,
        data={"flow": "test-flow", security.CSRF_FIELD: "csrf-lead"},
        follow_redirects=False,
    )
    assert checked.status_code == 303 and "done=checked" in checked.headers["location"]
    page = api.client.get(checked.headers["location"], headers=cookie)
    assert "Labels of test-flow checked; open conflicts: 1." in page.text
    row = re.search(r'<tr id="conflict-(\d+)">(.*?)</tr>', page.text, re.S)
    assert row is not None and "outcome default: bad" in row.group(2) and "decision (reviewer): good" in row.group(2)

    resolve = {"flow": "test-flow", "conflict": row.group(1), "label": "bad", "reason": "the outcome is final"}
    refused = api.client.post(
        "/lead/labels/resolve", headers=cookie, data={**resolve, security.CSRF_FIELD: "csrf-lead", "reason": ""}
    )
    assert refused.status_code == 422 and "say why" in refused.text
    done = api.client.post(
        "/lead/labels/resolve",
        headers=cookie,
        data={**resolve, security.CSRF_FIELD: "csrf-lead"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = api.client.get(done.headers["location"], headers=cookie)
    assert f"Conflict {row.group(1)} resolved: bad wins." in page.text and "No label conflict is open." in page.text
    stolen = api.client.post("/lead/labels/check", headers=cookie, data={"flow": "test-flow"}, follow_redirects=False)
    assert stolen.status_code == 403  # no CSRF token
