"""Active learning over HTTP: with nothing flagged, the API's claim and the review page offer an automatically
decided case as an ``explore`` task, whose answer reports the model's decision. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.builders import case, make_project
from signoff import users
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database
from signoff.web import security

CASES = "/api/v1/flows/test-flow/cases"


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    project = make_project(tmp_path, db.url, learning={"explore": {}})
    with TestClient(create_app(project)) as client:
        yield Api(client, db)


def test_the_api_and_the_review_page_offer_explore_tasks(api: Api) -> None:
    decided = {api.post(CASES, json=case(score)).json()["case"]["case_id"]: score for score in (0.1, 0.9)}
    claimed = api.post("/api/v1/tasks/claim", Role.REVIEWER)
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    task = next(t for t in body["case"]["tasks"] if t["id"] == body["task"]["id"])
    assert task["kind"] == "explore" and body["case"]["id"] in decided
    model_label = body["case"]["decision"]["label"]
    answer = {"token": body["lease"]["token"], "label": "good" if model_label == "bad" else "bad"}
    submitted = api.post(f"/api/v1/tasks/{body['task']['id']}/submit", Role.REVIEWER, json=answer)
    assert submitted.status_code == 200, submitted.text
    decision = submitted.json()["decision"]
    assert (decision["label"], decision["decided_by"]) == (model_label, "model")

    users.create_user(api.db, "rita", Role.REVIEWER, "test")
    users.set_password(api.db, "rita", "a long enough password", "test")
    session = users.login(api.db, "rita", "a long enough password")
    api.client.cookies.set(security.cookie_name(security.SESSION_COOKIE, False), session.session_id)
    page = api.client.post("/review/next", headers={security.CSRF_HEADER: session.csrf_token}).json()
    assert page["task"] is not None and page["task"]["case_id"] in decided
    assert "Exploration: the model already decided this case" in page["html"]
    again = api.post("/api/v1/tasks/claim", Role.REVIEWER)
    assert again.status_code == 204  # both cases are offered: nothing is left
