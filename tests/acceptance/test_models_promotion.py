"""Promotion through the gate end to end, on both databases: `signoff models evaluate|promote|rollback` as real
processes and the API over HTTP, with real models registered in the store and human-verified outcomes of known
quality (helpers.promotion). A worse challenger is refused with its reasons and nothing changes; a better one is
promoted; an override and a roll-back are audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.processes import environment, signoff
from helpers.promotion import actions, gated_project, register
from signoff import users
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.errors import PromotionRefused
from signoff.learning import promotion
from signoff.store.database import Database
from signoff.web import security


@pytest.mark.slow  # runs signoff processes
def test_evaluate_promote_and_rollback_from_the_command_line(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    worse, better = register(db, project, "worse"), register(db, project, "better")
    env, path = environment(db.url), str(project.path)

    weighed = signoff("models", "evaluate", "test-flow", worse, "--json", "-p", path, env=env)
    assert weighed.returncode == 0, weighed.stderr
    body = json.loads(weighed.stdout)
    assert (body["champion"], body["challenger"], body["promote"]) == ("test-1", worse, False)
    assert body["held_out"]["n"] > 200 and body["audit_sample"] is None
    assert not body["held_out"]["weighted"] and body["held_out"]["effective_n"] == body["held_out"]["n"]
    assert any(r.startswith("gain: AUC 0.8554 -> 0.6371") for r in body["reasons"])
    text = signoff("models", "evaluate", "test-flow", better, "-p", path, env=env)
    assert text.returncode == 0, text.stderr
    assert f"test-flow {better} against the champion test-1: promote" in text.stdout
    assert "Held-out human-verified cases:" in text.stdout and "flag_rate" in text.stdout
    assert "passed: gain: AUC 0.8554 -> 0.99" in text.stdout

    refused = signoff("models", "promote", "test-flow", worse, "--reason", "try it", "-p", path, env=env)
    assert refused.returncode == 1
    assert f"the promotion gate refused {worse} of flow 'test-flow'" in refused.stderr
    assert "gain: AUC 0.8554 -> 0.6371" in refused.stderr and "group group=b: AUC" in refused.stderr
    promoted = signoff("models", "promote", "test-flow", better, "--reason", "better", "-p", path, env=env)
    assert promoted.returncode == 0, promoted.stderr
    assert f"test-flow {better} is the champion (the gate passed)" in promoted.stdout

    no_reason = signoff("models", "rollback", "test-flow", "-p", path, env=env)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    back = signoff("models", "rollback", "test-flow", "--reason", "complaints", "-p", path, env=env)
    assert back.returncode == 0, back.stderr
    assert f"test-flow test-1 is the champion again (rolled back from {better})" in back.stdout
    listed = json.loads(signoff("models", "list", "test-flow", "--json", "-p", path, env=env).stdout)
    assert {v["version"]: v["status"] for v in listed} == {better: "retired", worse: "candidate", "test-1": "champion"}
    assert actions(db)[:1] == ["model.promotion_refused"]
    assert actions(db)[-2:] == ["model.status_changed", "model.rolled_back"]


def test_the_api_gives_the_evidence_and_promotes_through_the_gate(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    worse, better = register(db, project, "worse"), register(db, project, "better")
    base = "/api/v1/flows/test-flow/models"
    with TestClient(create_app(project)) as client:
        api = Api(client, db)
        evidence = client.get(f"{base}/{worse}/evidence", headers=api.as_(Role.AUDITOR))
        assert evidence.status_code == 200, evidence.text
        body = evidence.json()
        assert body["promote"] is False and body["held_out"]["challenger"]["auc"] < body["held_out"]["champion"]["auc"]
        assert {g["group"] for g in body["held_out"]["groups"]} == {"a", "b"}
        assert client.get(f"{base}/{worse}/evidence", headers=api.as_(Role.REVIEWER)).status_code == 403
        assert client.get(f"{base}/nope/evidence", headers=api.as_(Role.OWNER)).status_code == 404

        refused = api.post(f"{base}/{worse}/promote", Role.OWNER, json={"reason": "try it"})
        assert refused.status_code == 409, refused.text
        reasons = [p["reason"] for p in refused.json()["error"]["problems"]]
        assert reasons == body["reasons"] and any(r.startswith("gain: AUC") for r in reasons)
        assert api.post(f"{base}/{worse}/promote", Role.OWNER, json={"override": True}).status_code == 422

        done = api.post(f"{base}/{better}/promote", Role.OWNER, json={"reason": "better"})
        assert done.status_code == 200, done.text
        assert done.json()["overridden"] is False and done.json()["gate"]["promote"] is True
        assert done.json()["version"]["status"] == "champion"

        over = api.post(f"{base}/{worse}/promote", Role.OWNER, json={"reason": "incident 42", "override": True})
        assert over.status_code == 200, over.text
        assert over.json()["overridden"] is True and over.json()["gate"]["reasons"] != []

        back = api.post(f"{base}/rollback", Role.OWNER, json={"reason": "the override was a mistake"})
        assert back.status_code == 200, back.text
        assert (back.json()["previous"]["version"], back.json()["version"]["version"]) == (worse, better)
        named = api.post(f"{base}/rollback", Role.OWNER, json={"reason": "the file's model", "version": "test-1"})
        assert named.status_code == 200 and named.json()["version"]["status"] == "champion"
        assert api.post(f"{base}/rollback", Role.LEAD, json={"reason": "x"}).status_code == 403
    assert actions(db) == [
        "model.promotion_refused",
        *["model.status_changed"] * 2,
        "model.promoted",
        *["model.status_changed"] * 2,
        "model.promoted",
        *["model.status_changed"] * 2,
        "model.rolled_back",
        *["model.status_changed"] * 2,
        "model.rolled_back",
    ]


def _row(html: str, version: str) -> str:
    """The first table row of ``html`` headed by ``version``."""
    return next(r.split("</tr>")[0] for r in html.split("<tr>") if f'<th scope="row">{version}</th>' in r)


def test_the_owner_page_shows_each_candidates_evidence_and_the_decisions(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    flow = project.flow("test-flow")
    worse, better = register(db, project, "worse"), register(db, project, "better")
    with pytest.raises(PromotionRefused):
        promotion.promote(db, project, flow, worse, actor="owen", reason="try <it>")
    with TestClient(create_app(project)) as client:
        users.create_user(db, "olga", Role.OWNER, "test")
        users.set_password(db, "olga", "a long enough password", "test")
        session = users.login(db, "olga", "a long enough password")
        client.cookies.set(security.cookie_name(security.SESSION_COOKIE, False), session.session_id)
        page = client.get("/owner")
        assert page.status_code == 200
        assert f'href="/owner/flows/test-flow/models/{worse}/evidence">Evidence for {worse}</a>' in page.text
        assert f'href="/owner/flows/test-flow/models/{better}/evidence">Evidence for {better}</a>' in page.text
        decisions = page.text[page.text.index("Candidates and promotion decisions") :]
        row = _row(decisions, worse)
        assert "refused" in row and "owen" in row and "try &lt;it&gt;" in row
        assert "AUC 0.855" in row and "to 0.637" in row and "<li>gain: AUC 0.8554 -&gt; 0.6371" in row

        evidence = client.get(f"/owner/flows/test-flow/models/{better}/evidence")
        assert evidence.status_code == 200, evidence.text
        assert "the gate passes" in evidence.text and "Held-out human-verified cases (231)" in evidence.text
        assert "<li>gain: AUC 0.8554 -&gt; 0.99" in evidence.text
        assert "No audited case outside both models' training sets." in evidence.text
        assert client.get("/owner/flows/test-flow/models/nope/evidence").status_code == 404
        assert client.get("/owner/flows/test-flow/models/test-1/evidence").status_code == 409

        promotion.promote(db, project, flow, better, actor="owen", reason="better")
        after = client.get("/owner").text
        decisions = after[after.index("Candidates and promotion decisions") :]
        row = _row(decisions, better)
        assert "promoted" in row and "; the gate passed" in row
        assert f"Evidence for {better}" not in after  # a champion is no candidate
