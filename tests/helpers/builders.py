"""Builders: every test states the data it depends on, overriding only what matters to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from signoff.config import Flow, Project, parse_project


def flow_document(**overrides: Any) -> dict[str, Any]:
    """A small flow: ``score`` is the model's P(bad); ``group`` is a group attribute."""
    document: dict[str, Any] = {
        "labels": ["good", "bad"],
        "fields": {
            "score": {"type": "number", "min": 0, "max": 1},
            "amount": {"type": "number", "min": 0, "required": False},
            "group": {"type": "category", "values": ["a", "b"]},
        },
        "groups": ["group"],
        "model": {"kind": "python", "entry_point": "helpers.models:by_score", "version": "test-1"},
        "policy": [{"name": "uncertain", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"}],
        "queues": {"default": {"role": "reviewer", "lease_ttl": 60}},
    }
    document.update(overrides)
    return document


def make_flow(**overrides: Any) -> Flow:
    return Flow.model_validate({"name": "test-flow", **flow_document(**overrides)})


def make_project(
    folder: Path, database_url: str, flows: dict[str, dict[str, Any]] | None = None, **overrides: Any
) -> Project:
    """Write a project file into ``folder`` and load it, as a user would."""
    document = {"database_url": database_url, "flows": flows or {"test-flow": flow_document(**overrides)}}
    path = folder / "signoff.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return parse_project(document, path)


def case(score: float, group: str = "a", external_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A case body as the API takes it."""
    body: dict[str, Any] = {"fields": {"score": score, "group": group, **fields}}
    if external_id is not None:
        body["external_id"] = external_id
    return body
