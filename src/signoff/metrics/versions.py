"""The policy and model versions of a flow, with what the store can honestly say about each.

A model version's accuracy comes only from the random audit of the cases it decided alone (weighted by each
case's inclusion probability, as in ``estimates.audit_accuracy``); a version without audited cases has no
accuracy, not a guessed one. The version the server runs is the champion. There is no challenger mechanism yet,
so none is ever shown as configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from signoff.metrics import estimates, kpis
from signoff.store import registry, rollups
from signoff.store.database import Database


@dataclass(frozen=True)
class PolicyVersion:
    version: str
    created_at: datetime
    rules: list[tuple[str, str]]  # (name, kind), in the order they are tried
    routed: int
    last_routed_at: datetime | None
    current: bool


@dataclass(frozen=True)
class ModelVersion:
    version: str
    kind: str
    uri: str
    sha256: str | None
    created_at: datetime
    cases: int
    flagged: int
    flag_rate: float | None
    accuracy: estimates.Estimate | None  # on the audit sample; None when no case of this version was audited
    audited: int
    champion: bool


@dataclass(frozen=True)
class FlowVersions:
    flow: str
    policies: list[PolicyVersion]
    models: list[ModelVersion]
    challenger: ModelVersion | None  # always None until challengers exist; the page says so


def _rules(document: Any) -> list[tuple[str, str]]:
    rules = document.get("rules", []) if isinstance(document, dict) else []
    return [(str(r.get("name", "")), str(r.get("kind", ""))) for r in rules if isinstance(r, dict)]


def flow_versions(db: Database, flow: str, serving_model: str, current_policy: str) -> FlowVersions:
    """Every recorded version of ``flow``'s policy and model, newest first, marking the ones the server runs. What
    each version did comes from the rollups' version cells, folded first (by the database) up to the final cases."""
    mark = rollups.fold_versions(db, flow, rollups.final_case_id(db))
    with db.transaction(write=False) as conn:
        policy_rows = registry.policy_versions_of(conn, flow)
        model_rows = registry.model_versions_of(conn, flow)
        used = rollups.version_use(conn, flow, mark)
        sample = registry.audit_sample(conn, flow)

    samples: dict[int, tuple[list[bool], list[float]]] = {}
    for model, right, inclusion, n in sample:
        correct, probabilities = samples.setdefault(model, ([], []))
        correct.extend([right] * n)
        probabilities.extend([inclusion] * n)

    policies = []
    for r in policy_rows:
        routed, last = used.policies.get(str(r.version), (0, None))
        policies.append(
            PolicyVersion(
                version=str(r.version),
                created_at=r.created_at,
                rules=_rules(r.document),
                routed=routed,
                last_routed_at=last,
                current=r.version == current_policy,
            )
        )
    models = []
    for r in model_rows:
        correct, probabilities = samples.get(int(r.id), ([], []))
        cases, flagged = used.models.get(int(r.id), (0, 0))
        models.append(
            ModelVersion(
                version=str(r.version),
                kind=str(r.kind),
                uri=str(r.uri),
                sha256=r.sha256,
                created_at=r.created_at,
                cases=cases,
                flagged=flagged,
                flag_rate=kpis.flag_rate(flagged, cases),
                accuracy=estimates.audit_accuracy(correct, probabilities) if correct else None,
                audited=len(correct),
                champion=r.version == serving_model,
            )
        )
    return FlowVersions(flow, policies, models, challenger=None)
