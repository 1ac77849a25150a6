"""The sealed audit trail over HTTP: auditors (and admins) stream it as JSON Lines or CSV, bounded by time;
other roles are refused; bad bounds are a 422 that says what to send."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.scripted import scripted_project, scripted_run
from signoff import audit
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database

URL = "/api/v1/audit/events"


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    project = scripted_project(db, tmp_path)
    scripted_run(db, project)
    with TestClient(create_app(project)) as client:
        audit.seal(db)
        yield Api(client, db)


def test_auditors_stream_the_sealed_trail(api: Api) -> None:
    response = api.client.get(URL, headers=api.as_(Role.AUDITOR))
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    events = [json.loads(line) for line in response.text.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) and len(events) > 10
    assert events[1]["prev_hash"] == events[0]["hash"]

    as_csv = api.client.get(URL, params={"format": "csv"}, headers=api.as_(Role.ADMIN))
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert as_csv.headers["content-type"].startswith("text/csv") and len(rows) == len(events)

    later = api.client.get(URL, params={"since": "2999-01-01"}, headers=api.as_(Role.AUDITOR))
    assert later.status_code == 200 and later.text == ""


def test_other_roles_and_bad_bounds_are_refused(api: Api) -> None:
    for role in (Role.REVIEWER, Role.LEAD, Role.OWNER, Role.INTAKE):
        assert api.client.get(URL, headers=api.as_(role)).status_code == 403, role
    bad = api.client.get(URL, params={"until": "tomorrow"}, headers=api.as_(Role.AUDITOR))
    assert bad.status_code == 422 and "'tomorrow' is not an ISO 8601 date" in bad.text
    swapped = api.client.get(URL, params={"since": "2026-11-02", "until": "2026-11-01"}, headers=api.as_(Role.AUDITOR))
    assert swapped.status_code == 422 and "'2026-11-01' is not after since '2026-11-02'" in swapped.text
    assert api.client.get(URL, params={"format": "xml"}, headers=api.as_(Role.AUDITOR)).status_code == 422
