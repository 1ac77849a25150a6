"""Alerts end to end: thresholds from the flow file, crossed by a scripted run, become alert.raised audit events
that the existing webhooks deliver to a local HTTP receiver; from a direct check and from a running server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers.builders import make_project
from helpers.scripted import scripted_project, scripted_run
from helpers.webhooks import Receiver
from signoff import audit
from signoff.api.app import create_app
from signoff.audit.webhooks import deliver
from signoff.config import Project
from signoff.config.flows import Network, Webhook
from signoff.errors import ConfigError
from signoff.metrics import alerts
from signoff.store.database import Database

THRESHOLDS = {"min_cases": 1, "flag_rate": {"max": 0.3}, "sla_compliance": 0.9, "drift_psi": 0.25, "every": 1}


def _alerts(receiver: Receiver) -> list[dict[str, Any]]:
    return [e for body in receiver.bodies() for e in body["events"] if e["action"] == "alert.raised"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _project(db: Database, tmp_path: Path, url: str) -> Project:
    project = scripted_project(db, tmp_path, alerts=THRESHOLDS)
    hooks = {"ops": Webhook(url=url, events=("alert.raised",))}
    return project.model_copy(update={"webhooks": hooks, "network": Network(allow=("127.0.0.1",))})


def _hook_in_place(db: Database, project: Project) -> None:
    """Seal and deliver once: the webhook's cursor now stands after the run's events (a webhook configured later
    starts at the events sealed from then on)."""
    audit.seal(db)
    deliver(db, project)


def test_crossed_thresholds_reach_the_webhook_once(db: Database, tmp_path: Path, receiver: Receiver) -> None:
    project = _project(db, tmp_path, receiver.url)
    scripted_run(db, project)
    _hook_in_place(db, project)
    found = alerts.check(db, project)
    # flag rate 0.5 > 0.3 and SLA compliance 0.5 < 0.9; no drift against the earliest window (itself)
    assert sorted(a.check for a in found) == ["flag_rate_high", "sla_compliance"]
    audit.seal(db)
    deliver(db, project)
    sent = _alerts(receiver)
    assert sorted(e["data"]["check"] for e in sent) == ["flag_rate_high", "sla_compliance"]
    high = next(e for e in sent if e["data"]["check"] == "flag_rate_high")
    assert (high["entity"], high["entity_id"]) == ("flow", "test-flow")
    assert (high["data"]["value"], high["data"]["threshold"]) == (0.5, 0.3)
    assert "flag rate 0.500 is above 0.3" in high["data"]["message"]

    # checked again within the window: found again, but not raised twice
    assert len(alerts.check(db, project)) == 2
    audit.seal(db)
    deliver(db, project)
    assert len(_alerts(receiver)) == 2


def test_the_server_checks_thresholds_by_itself(db: Database, tmp_path: Path, receiver: Receiver) -> None:
    project = _project(db, tmp_path, receiver.url)
    scripted_run(db, project)
    _hook_in_place(db, project)
    with TestClient(create_app(project)):
        deadline = time.monotonic() + 20
        while len(_alerts(receiver)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert sorted(e["data"]["check"] for e in _alerts(receiver)) == ["flag_rate_high", "sla_compliance"]


def test_a_window_below_min_cases_raises_no_rate_alert(db: Database, tmp_path: Path) -> None:
    project = scripted_project(db, tmp_path, alerts={**THRESHOLDS, "min_cases": 100, "sla_compliance": None})
    scripted_run(db, project)
    assert alerts.check(db, project) == []


def test_thresholds_are_validated_with_their_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        make_project(tmp_path, "sqlite:///x.db", alerts={"flag_rate": {"min": 0.5, "max": 0.2}, "window": "month"})
    text = str(error.value)
    assert "flows.test-flow.alerts.flag_rate" in text and "'min' (0.5) is greater than 'max' (0.2)" in text
    assert "flows.test-flow.alerts.window" in text
    with pytest.raises(ConfigError, match="favourable 'maybe' is not one of"):
        make_project(tmp_path, "sqlite:///x.db", metrics={"favourable": "maybe"})
