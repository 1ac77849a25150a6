"""Flow files (YAML) turned into validated, immutable settings objects."""

from __future__ import annotations

from signoff.config.flows import (
    FieldSpec,
    Flow,
    ImageSpec,
    ModelSpec,
    Project,
    QueueSpec,
    load_project,
    parse_project,
    with_policy,
    with_policy_rules,
)
from signoff.config.policy import (
    AuditSpec,
    BandRule,
    CapacityRule,
    CertifiedRule,
    ConformalRule,
    ExpressionRule,
    JointRiskRule,
    OutOfDistributionRule,
    Rule,
    ThresholdRule,
    UncertaintyRule,
)

__all__ = [
    "AuditSpec",
    "BandRule",
    "CapacityRule",
    "CertifiedRule",
    "ConformalRule",
    "ExpressionRule",
    "FieldSpec",
    "Flow",
    "ImageSpec",
    "JointRiskRule",
    "ModelSpec",
    "OutOfDistributionRule",
    "Project",
    "QueueSpec",
    "Rule",
    "ThresholdRule",
    "UncertaintyRule",
    "load_project",
    "parse_project",
    "with_policy",
    "with_policy_rules",
]
