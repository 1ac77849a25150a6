"""The OpenAPI document describes every answer the API gives: each operation lists a schema for each status it can
answer, every error in the one error body, and real answers of the running app, on both databases and as the roles
that get them, validate against the schema documented for their status."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.builders import case, make_project
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database

ERROR = {"$ref": "#/components/schemas/ErrorOut"}
EVERY_API_ERROR = {"401", "403", "503"}  # no token, a role that may not, the database busy or down


@pytest.fixture
def served(db: Database, tmp_path: Path) -> Any:
    app = create_app(make_project(tmp_path, db.url))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app.openapi(), Api(client, db)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_every_operation_documents_a_schema_for_each_status_it_answers(served: Any) -> None:
    spec, _api = served
    missing = []
    for method, path, op in _operations(spec):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        if not any(status.startswith("2") for status in responses):
            missing.append(f"{where}: no success status")
        for status, response in responses.items():
            content = response.get("content", {})
            if status == "204":
                if content:
                    missing.append(f"{where} 204: documents a body")
            elif not content or any(not media.get("schema") for media in content.values()):
                missing.append(f"{where} {status}: no schema")
            elif (
                status.startswith(("4", "5"))
                and path.startswith("/api/")
                and content.get("application/json", {}).get("schema") != ERROR
            ):
                missing.append(f"{where} {status}: not the error body: {content}")
        if path.startswith("/api/"):
            expected = set(EVERY_API_ERROR)
            if op.get("parameters") or op.get("requestBody"):
                expected.add("422")  # a parameter or body that is not valid
            if op.get("requestBody"):
                expected.add("413")  # a body over the size limit
            if "{" in path:
                expected.add("404")  # what the path names does not exist, or is not the caller's
            if not expected <= set(responses):
                missing.append(f"{where}: does not document {sorted(expected - set(responses))}")
    assert missing == [], "\n".join(missing)


class Checked:
    """Answers of the running app, each validated against the schema documented for its operation and status."""

    def __init__(self, spec: dict[str, Any], api: Api) -> None:
        self.spec, self.api, self.seen = spec, api, set[tuple[str, str, int]]()
        self.paths = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in spec["paths"]]

    def __call__(self, method: str, url: str, role: Role | None, status: int, **kwargs: Any) -> Any:
        headers = self.api.as_(role) if role is not None else {}
        response = self.api.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == status, (method, url, role, response.text)
        template = next(
            path
            for pattern, path in self.paths
            if pattern.match(url.split("?")[0]) and method.lower() in self.spec["paths"][path]
        )
        documented = self.spec["paths"][template][method.lower()]["responses"]
        assert str(status) in documented, f"{method} {template} answered an undocumented {status}"
        self.seen.add((method, template, status))
        if status == 204:
            assert response.content == b""
            return None
        media = response.headers["content-type"].split(";")[0]
        schema = documented[str(status)]["content"][media]["schema"]
        if media != "application/json":
            return response.text
        body = response.json()
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": self.spec["components"]})
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
        assert errors == [], f"{method} {url} {status} as {role}: {errors[:5]}"
        return body


def test_real_answers_validate_against_the_documented_schemas(served: Any) -> None:
    spec, api = served
    check = Checked(spec, api)
    v1 = "/api/v1"

    # intake: a batch (201), an identical replay (200), then the errors every client meets
    batch = {"cases": [case(0.5, external_id=f"c{i}") for i in range(3)] + [case(0.1, external_id="auto")]}
    check("POST", f"{v1}/flows/test-flow/cases", Role.INTAKE, 201, json=batch)
    check("POST", f"{v1}/flows/test-flow/cases", Role.INTAKE, 200, json=case(0.5, external_id="c0"))
    check("POST", f"{v1}/flows/test-flow/cases", Role.INTAKE, 409, json=case(0.9, external_id="c0"))
    check("POST", f"{v1}/flows/test-flow/cases", Role.INTAKE, 422, json={"cases": [{"fields": {"score": 7}}]})
    check("POST", f"{v1}/flows/test-flow/cases", None, 401, json=case(0.5))
    check("POST", f"{v1}/flows/test-flow/cases", Role.REVIEWER, 403, json=case(0.5))
    check("POST", f"{v1}/flows/nope/cases", Role.INTAKE, 404, json=case(0.5))
    check("GET", f"{v1}/flows", Role.ADMIN, 200)

    # a reviewer's round: claim, heartbeat, submit, and the refusals of a spent lease
    claimed = check("POST", f"{v1}/tasks/claim", Role.REVIEWER, 200)
    task, token = claimed["task"]["id"], claimed["lease"]["token"]
    assert "traceparent" not in claimed["case"]
    check("POST", f"{v1}/tasks/{task}/heartbeat", Role.REVIEWER, 200, json={"token": token})
    held = check("GET", f"{v1}/tasks/held", Role.REVIEWER, 200)
    assert [(h["task"]["id"], h["lease"]["token"]) for h in held["tasks"]] == [(task, token)]
    check("GET", f"{v1}/tasks/held", Role.INTAKE, 403)
    check("POST", f"{v1}/tasks/{task}/submit", Role.REVIEWER, 200, json={"token": token, "label": "good"})
    check("POST", f"{v1}/tasks/{task}/release", Role.REVIEWER, 409, json={"token": token})
    check("POST", f"{v1}/tasks/{task}/submit", Role.REVIEWER, 409, json={"token": token, "label": "bad"})
    second = check("POST", f"{v1}/tasks/claim", Role.REVIEWER, 200)
    skipped = {"token": second["lease"]["token"], "reason": "unsure"}
    check("POST", f"{v1}/tasks/{second['task']['id']}/skip", Role.REVIEWER, 200, json=skipped)
    third = check("POST", f"{v1}/tasks/claim", Role.ADMIN, 200)
    check("POST", f"{v1}/tasks/{third['task']['id']}/release", Role.ADMIN, 200, json={"token": third["lease"]["token"]})

    # the record as each role sees it: whole to an admin, cut to a reviewer
    case_id = claimed["case"]["id"]
    for role in (Role.ADMIN, Role.REVIEWER, Role.INTAKE, Role.AUDITOR):
        record = check("GET", f"{v1}/cases/{case_id}", role, 200)
        assert record["decision"]["label"] == "good"
        assert "traceparent" not in record
    check("GET", f"{v1}/cases/999999", Role.ADMIN, 404)
    # the flow's decisions since a cursor: a page, the refusals of a bad cursor and of an unknown flow
    check("GET", f"{v1}/flows/test-flow/decisions?after=0&limit=2", Role.INTAKE, 200)
    check("GET", f"{v1}/flows/test-flow/decisions?after=-1", Role.INTAKE, 422)
    check("GET", f"{v1}/flows/nope/decisions", Role.INTAKE, 404)

    # the floor: tasks, queues, reviewers, metrics, the audit trail
    for role in (Role.ADMIN, Role.REVIEWER, Role.AUDITOR):
        check("GET", f"{v1}/tasks?limit=2", role, 200)
        check("GET", f"{v1}/queues", role, 200)
        check("GET", f"{v1}/reviewers", role, 200)
    check("GET", f"{v1}/tasks?limit=0", Role.ADMIN, 422)
    check("GET", f"{v1}/flows/test-flow/metrics?window=week&points=3", Role.ADMIN, 200)
    check("GET", f"{v1}/audit/events", Role.AUDITOR, 200)
    check("GET", f"{v1}/audit/events?format=csv", Role.AUDITOR, 200)
    check("GET", f"{v1}/audit/events?since=soon", Role.AUDITOR, 422)

    # a lead's changes
    open_task = check("GET", f"{v1}/tasks?status=queued", Role.LEAD, 200)["tasks"][0]["id"]
    check("POST", f"{v1}/tasks/{open_task}/assign", Role.LEAD, 200, json={"reviewer": None})
    check("PUT", f"{v1}/users/reviewer/skills", Role.LEAD, 200, json={"skills": ["fraud"]})
    check("POST", f"{v1}/users/reviewer/conflicts", Role.LEAD, 201, json={"case_id": case_id, "reason": "kin"})
    check("DELETE", f"{v1}/users/reviewer/pauses/test-flow/default", Role.LEAD, 404)
    check("POST", f"{v1}/flows/test-flow/gold", Role.LEAD, 201, json={"cases": [{**case(0.2), "label": "bad"}]})

    # outcomes and label conflicts: the reviewer's "good" meets a later "bad"
    outcome = {"case_id": case_id, "label": "bad"}
    check("POST", f"{v1}/flows/test-flow/outcomes", Role.INTAKE, 201, json=outcome)
    check("POST", f"{v1}/flows/test-flow/outcomes", Role.OWNER, 200, json={"outcomes": [outcome]})
    check("POST", f"{v1}/flows/test-flow/outcomes", Role.INTAKE, 409, json={**outcome, "label": "good"})
    check("POST", f"{v1}/flows/test-flow/outcomes", Role.INTAKE, 422, json={"outcomes": [{"label": "bad"}]})
    (found,) = check("POST", f"{v1}/flows/test-flow/labels/check", Role.LEAD, 200)["new"]
    check("GET", f"{v1}/flows/test-flow/labels/conflicts?status=all", Role.OWNER, 200)
    resolve = {"label": "bad", "reason": "the loan defaulted"}
    check("POST", f"{v1}/flows/test-flow/labels/conflicts/{found['id']}/resolve", Role.LEAD, 200, json=resolve)
    check("POST", f"{v1}/flows/test-flow/labels/conflicts/999999/resolve", Role.LEAD, 404, json=resolve)
    # the model registry: the flow file's model is the champion; promoting it again changes nothing
    models = f"{v1}/flows/test-flow/models"
    check("GET", models, Role.OWNER, 200)
    check("GET", f"{models}/test-1", Role.AUDITOR, 200)
    check("GET", f"{models}/nope", Role.OWNER, 404)
    check("POST", f"{models}/test-1/promote", Role.OWNER, 200, json={"reason": "keep it"})
    check("POST", f"{models}/test-1/promote", Role.LEAD, 403, json={"reason": "keep it"})
    check("GET", f"{models}/test-1/evidence", Role.OWNER, 409)  # the champion: nothing to weigh it against
    check("POST", f"{models}/rollback", Role.OWNER, 409, json={"reason": "go back"})  # no champion before it
    check("POST", f"{models}/rollback", Role.OWNER, 422, json={})
    check("POST", f"{models}/test-1/shadow", Role.OWNER, 409, json={"reason": "watch"})  # the champion serves
    check("POST", f"{models}/nope/shadow", Role.OWNER, 404, json={"reason": "watch"})
    check("POST", f"{models}/test-1/canary", Role.OWNER, 409, json={"reason": "try"})
    check("POST", f"{models}/test-1/canary", Role.OWNER, 422, json={"reason": "try", "share": 2})
    check("GET", f"{v1}/flows/test-flow/challenger", Role.AUDITOR, 200)

    # the webhook delivery log (empty: this project has no webhook; tests/acceptance/test_http_webhooks.py fills it)
    check("GET", f"{v1}/webhooks/deliveries?status=dead", Role.LEAD, 200)
    check("GET", f"{v1}/webhooks/deliveries?status=lost", Role.LEAD, 422)
    check("GET", f"{v1}/webhooks/deliveries", Role.REVIEWER, 403)
    check("POST", f"{v1}/webhooks/deliveries/msg_{'0' * 32}/replay", Role.ADMIN, 404)
    check("POST", f"{v1}/webhooks/deliveries/nope/replay", Role.ADMIN, 422)

    # nothing waiting in the queue asked for: 204 with no body
    check("POST", f"{v1}/tasks/claim", Role.REVIEWER, 204, json={"queue": "empty"})
    check("GET", "/healthz", None, 200)
    check("GET", "/readyz", None, 200)

    answered = {(method, path) for method, path, _status in check.seen}
    assert answered == {(m.upper(), p) for m, p, _op in _operations(spec)}, "an operation went unchecked"
