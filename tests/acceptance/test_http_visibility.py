"""What each caller may see and change, over HTTP: blind consensus stays blind and gold tasks look like reviews
through every endpoint (not only the claim); roles hold per flow; reviewers' figures are for those who oversee
them; a lead cannot grant themselves skills or lift their own pause, nor assign a case to its submitter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers.builders import case, flow_document, make_project
from signoff import users
from signoff.domain import Role
from signoff.store.database import Database
from signoff.store.schema import tasks

CONSENSUS = {
    "default": {"consensus": {"reviews": 2, "agreement": "unanimous", "adjudicate_in": "senior"}},
    "senior": {"role": "lead"},
}
GOLD = {"rate": 1.0, "min_accuracy": 0.9, "min_answers": 1}


class Client:
    """A test client with named users and their tokens."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.client, self.db, self.tokens = client, db, {}

    def add(self, name: str, role: Role, flows: tuple[str, ...] = ()) -> None:
        made = (
            users.create_user(self.db, name, role, "test", list(flows))
            if flows
            else users.create_user(self.db, name, role, "test")
        )
        self.tokens[name] = made[1]

    def call(self, name: str, method: str, url: str, **kwargs: Any) -> Any:
        return self.client.request(method, url, headers={"Authorization": f"Bearer {self.tokens[name]}"}, **kwargs)

    def claim(self, name: str) -> dict[str, Any]:
        response = self.call(name, "POST", "/api/v1/tasks/claim", json={})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def answer(self, name: str, label: str, comment: str = "") -> dict[str, Any]:
        got = self.claim(name)
        body = {"token": got["lease"]["token"], "label": label, "comment": comment}
        submitted = self.call(name, "POST", f"/api/v1/tasks/{got['task']['id']}/submit", json=body)
        assert submitted.status_code == 200, submitted.text
        return got


def _client(db: Database, tmp_path: Path, flows: dict[str, dict[str, Any]]) -> Iterator[Client]:
    from signoff.api.app import create_app

    project = make_project(tmp_path, db.url, flows=flows)
    with TestClient(create_app(project)) as client:
        api = Client(client, db)
        api.add("intake", Role.INTAKE)
        yield api


@pytest.fixture
def consensus(db: Database, tmp_path: Path) -> Iterator[Client]:
    yield from _client(db, tmp_path, {"test-flow": flow_document(queues=CONSENSUS)})


@pytest.fixture
def gold(db: Database, tmp_path: Path) -> Iterator[Client]:
    yield from _client(db, tmp_path, {"test-flow": flow_document(queues={"default": {"gold": GOLD}})})


@pytest.fixture
def two_flows(db: Database, tmp_path: Path) -> Iterator[Client]:
    yield from _client(db, tmp_path, {"credit": flow_document(), "fraud": flow_document()})


def test_a_consensus_reviewer_never_sees_the_other_answer_through_the_case_or_the_task_list(
    consensus: Client,
) -> None:
    consensus.call("intake", "POST", "/api/v1/flows/test-flow/cases", json=case(0.5))
    consensus.add("alice", Role.REVIEWER)
    consensus.add("bob", Role.REVIEWER)
    consensus.add("lena", Role.LEAD)
    first = consensus.answer("alice", "bad", "the income looks invented")
    second = consensus.claim("bob")
    case_id = second["case"]["id"]
    assert case_id == first["case"]["id"] and second["case"]["reviews"] == []  # the claim was blind already
    for name in ("bob", "lena"):  # bob, and a lead, while each holds a review of the case
        if name == "lena":
            token = {"token": second["lease"]["token"]}
            consensus.call("bob", "POST", f"/api/v1/tasks/{second['task']['id']}/release", json=token)
            consensus.claim("lena")
        seen = consensus.call(name, "GET", f"/api/v1/cases/{case_id}")
        assert seen.status_code == 200
        assert seen.json()["reviews"] == [] and "invented" not in seen.text, name
        if name == "bob":  # nor who else reviewed it (the lead oversees the flow: they may know who)
            listed = consensus.call(name, "GET", "/api/v1/tasks").json()["tasks"]
            alice_id = users.list_users(consensus.db)[1].id
            assert alice_id not in [t["lease_owner"] for t in listed]
    admin_view = consensus.client.get(f"/api/v1/cases/{case_id}")
    assert admin_view.status_code == 401
    consensus.add("audra", Role.AUDITOR)  # who oversees the flow, and holds no review of it, sees both answers
    audited = consensus.call("audra", "GET", f"/api/v1/cases/{case_id}").json()
    assert [r["comment"] for r in audited["reviews"]] == ["the income looks invented"]


def test_a_review_that_leaves_its_case_undecided_says_so_with_nulls(consensus: Client) -> None:
    consensus.call("intake", "POST", "/api/v1/flows/test-flow/cases", json=case(0.5))
    for name in ("alice", "bob"):
        consensus.add(name, Role.REVIEWER)
    decisions = []
    for name, label in (("alice", "bad"), ("bob", "good")):  # the second answer disagrees: adjudication
        got = consensus.claim(name)
        body = {"token": got["lease"]["token"], "label": label}
        decisions.append(consensus.call(name, "POST", f"/api/v1/tasks/{got['task']['id']}/submit", json=body).json())
    assert [(d["decision"]["label"], d["decision"]["decided_by"]) for d in decisions] == [(None, None)] * 2


def test_a_gold_task_looks_like_a_review_in_the_case_and_the_task_list(gold: Client) -> None:
    gold.call("intake", "POST", "/api/v1/flows/test-flow/cases", json=case(0.5))  # real work, so gold is served
    gold.add("lena", Role.LEAD)
    gold.add("alice", Role.REVIEWER)
    added = gold.call("lena", "POST", "/api/v1/flows/test-flow/gold", json={"cases": [case(0.9) | {"label": "bad"}]})
    assert added.status_code == 201
    got = gold.claim("alice")
    case_id = got["case"]["id"]
    seen = gold.call("alice", "GET", f"/api/v1/cases/{case_id}").json()
    assert seen["status"] == "in_review"
    assert [t["kind"] for t in seen["tasks"]] == ["review"]
    listed = gold.call("alice", "GET", "/api/v1/tasks").text
    assert '"gold"' not in listed
    lead_view = gold.call("lena", "GET", f"/api/v1/cases/{case_id}").json()
    assert lead_view["status"] == "gold" and [t["kind"] for t in lead_view["tasks"]] == ["gold"]


def test_roles_hold_per_flow(two_flows: Client) -> None:
    api = two_flows
    api.add("credit-intake", Role.INTAKE, ("credit",))
    api.add("credit-reviewer", Role.REVIEWER, ("credit",))
    fraud = api.call("intake", "POST", "/api/v1/flows/fraud/cases", json=case(0.5)).json()["case"]["case_id"]
    refused = api.call("credit-intake", "POST", "/api/v1/flows/fraud/cases", json=case(0.5))
    assert refused.status_code == 404 and refused.json()["error"]["type"] == "not_found"
    assert api.call("credit-intake", "GET", f"/api/v1/cases/{fraud}").status_code == 404
    assert api.call("credit-reviewer", "GET", f"/api/v1/cases/{fraud}").status_code == 404
    assert [f["name"] for f in api.call("credit-reviewer", "GET", "/api/v1/flows").json()["flows"]] == ["credit"]
    assert api.call("credit-reviewer", "GET", "/api/v1/tasks").json()["tasks"] == []
    assert api.call("credit-reviewer", "POST", "/api/v1/tasks/claim", json={}).status_code == 204
    assert api.call("intake", "GET", f"/api/v1/cases/{fraud}").status_code == 200  # a grant on every flow


def test_a_reviewer_sees_only_their_own_gold_accuracy_and_pauses(gold: Client) -> None:
    gold.call("intake", "POST", "/api/v1/flows/test-flow/cases", json={"cases": [case(0.5), case(0.5)]})
    gold.add("lena", Role.LEAD)
    gold.add("alice", Role.REVIEWER)
    gold.add("bob", Role.REVIEWER)
    cases = {"cases": [case(0.9) | {"label": "bad"} for _ in range(2)]}
    assert gold.call("lena", "POST", "/api/v1/flows/test-flow/gold", json=cases).status_code == 201
    gold.answer("bob", "good")  # wrong on gold: paused
    gold.answer("alice", "bad")
    mine = gold.call("alice", "GET", "/api/v1/reviewers").json()
    assert [g["reviewer"] for g in mine["gold"]] == ["alice"]
    assert mine["pauses"] == [] and [r["name"] for r in mine["reviewers"]] == ["alice"]
    floor = gold.call("lena", "GET", "/api/v1/reviewers").json()
    assert [g["reviewer"] for g in floor["gold"]] == ["alice", "bob"]
    assert [p["reviewer"] for p in floor["pauses"]] == ["bob"]


def test_a_lead_cannot_grant_themselves_or_touch_who_does_not_review_their_flows(gold: Client) -> None:
    gold.add("lena", Role.LEAD)
    gold.add("audra", Role.AUDITOR)
    gold.add("root", Role.ADMIN)
    own = gold.call("lena", "PUT", "/api/v1/users/lena/skills", json={"skills": ["everything"]})
    assert own.status_code == 403 and "own skills" in own.json()["error"]["message"]
    for name in ("audra", "root"):
        assert gold.call("lena", "PUT", f"/api/v1/users/{name}/skills", json={"skills": ["x"]}).status_code == 404
    gold.call("intake", "POST", "/api/v1/flows/test-flow/cases", json=case(0.5))
    cases = {"cases": [case(0.9) | {"label": "bad"}]}
    assert gold.call("root", "POST", "/api/v1/flows/test-flow/gold", json=cases).status_code == 201
    gold.answer("lena", "good")  # a lead reviews too; wrong on gold: paused
    lifted = gold.call("lena", "DELETE", "/api/v1/users/lena/pauses/test-flow/default")
    assert lifted.status_code == 403 and "own pause" in lifted.json()["error"]["message"]
    assert gold.call("root", "DELETE", "/api/v1/users/lena/pauses/test-flow/default").status_code == 200


def test_a_task_cannot_be_assigned_to_its_cases_submitter(two_flows: Client) -> None:
    api = two_flows
    api.add("lena", Role.LEAD)
    api.add("sam", Role.ADMIN)  # an admin may submit and review
    task = api.call("sam", "POST", "/api/v1/flows/credit/cases", json=case(0.5)).json()["case"]
    assert task["verdict"] == "review"
    refused = api.call("lena", "POST", "/api/v1/tasks/1/assign", json={"reviewer": "sam"})
    assert refused.status_code == 422
    assert "sam submitted case" in refused.json()["error"]["problems"][0]["reason"]
    api.add("fraud-reviewer", Role.REVIEWER, ("fraud",))
    other = api.call("lena", "POST", "/api/v1/tasks/1/assign", json={"reviewer": "fraud-reviewer"})
    assert other.status_code == 422 and "may not take reviewer tasks on flow credit" in other.text
    with api.db.transaction(write=False) as conn:
        assert conn.execute(tasks.select()).first().assignee is None  # type: ignore[union-attr]
