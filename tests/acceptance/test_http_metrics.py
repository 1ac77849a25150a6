"""The dashboard API and /metrics over HTTP: who may read the KPIs, and what the JSON holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.scripted import scripted_project, scripted_run
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database

URL = "/api/v1/flows/test-flow/metrics"


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    project = scripted_project(db, tmp_path)
    scripted_run(db, project)
    with TestClient(create_app(project)) as client:
        yield Api(client, db)


def test_metrics_readers_get_the_kpis_as_json(api: Api) -> None:
    for role in (Role.ADMIN, Role.LEAD, Role.OWNER, Role.AUDITOR):
        response = api.client.get(URL, params={"window": "day", "points": 3}, headers=api.as_(role))
        assert response.status_code == 200, (role, response.text)
    body = response.json()
    assert (body["flow"], body["window"], body["cases"], body["flag_rate"]) == ("test-flow", "day", 6, 0.5)
    assert body["turnaround"]["p95"] == 525.0 and body["sla"]["value"] == 0.5
    assert body["accuracy"]["model"]["value"] == pytest.approx(2 / 3) and body["accuracy"]["audited"] == 3
    assert body["cost"]["per_corrected"] == 9.5
    assert body["fairness"]["group"]["groups"]["a"]["n"] == 3
    assert len(body["series"]) == 3 and body["series"][-1]["cases"] == 6
    assert "largest_psi" in body["drift"]


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.INTAKE])
def test_other_roles_are_refused(api: Api, role: Role) -> None:
    assert api.client.get(URL, headers=api.as_(role)).status_code == 403


def test_no_token_unknown_flow_and_bad_window(api: Api) -> None:
    assert api.client.get(URL).status_code == 401
    assert api.client.get("/api/v1/flows/nope/metrics", headers=api.as_(Role.ADMIN)).status_code == 404
    assert api.client.get(URL, params={"window": "month"}, headers=api.as_(Role.ADMIN)).status_code in (400, 422)


def test_prometheus_scrapes_without_a_token(api: Api) -> None:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert 'signoff_cases_total{flow="test-flow"} 6.0' in response.text
