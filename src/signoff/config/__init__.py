"""Flow files (YAML) turned into validated, immutable settings objects."""

from __future__ import annotations

from signoff.config.flows import (
    BandRule,
    FieldSpec,
    Flow,
    ModelSpec,
    Project,
    QueueSpec,
    Rule,
    ThresholdRule,
    load_project,
    parse_project,
)

__all__ = [
    "BandRule",
    "FieldSpec",
    "Flow",
    "ModelSpec",
    "Project",
    "QueueSpec",
    "Rule",
    "ThresholdRule",
    "load_project",
    "parse_project",
]
