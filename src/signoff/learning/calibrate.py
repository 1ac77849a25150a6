"""Calibrate the learning rules of a policy from human-verified labels, and profile the training data.

Only labels that represent the cases a rule decides are used: the random audit sample (drawn among
auto-decided cases) and a labelled calibration file. Reviews of flagged cases are left out on purpose: they are
the model's hardest cases, and calibrating on them would bias every guarantee.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.config import CertifiedRule, ConformalRule, Flow, JointRiskRule, OutOfDistributionRule, Project
from signoff.routing import Batch, Policy, Profile
from signoff.routing import calibration as stats
from signoff.routing.calibration import Certificate, Refusal
from signoff.routing.policy import score_of

Certificates = dict[str, dict[str | None, Certificate | Refusal]]
Quantiles = dict[str, Certificate | Refusal]


def profile(project: Project, flow: Flow) -> Profile:
    """Ranges and categories seen in the reference files named by out-of-distribution rules."""
    ranges: dict[str, tuple[float, float]] = {}
    categories: dict[str, frozenset[str]] = {}
    for rule in flow.policy:
        if not isinstance(rule, OutOfDistributionRule) or rule.reference is None:
            continue
        path = project.resolve(rule.reference)
        frame = _read_table(path)
        for name, spec in flow.fields.items():
            if name not in frame:
                continue
            column = frame[name]
            if spec.type in ("number", "integer"):
                values = pd.to_numeric(column, errors="coerce").dropna()
                if len(values):
                    ranges[name] = (float(values.min()), float(values.max()))
            elif spec.type in ("category", "string"):
                categories[name] = frozenset(str(v) for v in column.dropna().unique())
    return Profile(ranges, categories)


def _read_table(path: Path) -> pd.DataFrame:
    from signoff.errors import ConfigError, Problem

    if not path.is_file():
        raise ConfigError(str(path), [Problem("(file)", "reference file of an out_of_distribution rule not found")])
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def certificates(
    policy: Policy,
    probabilities: npt.NDArray[np.float64],
    human: Sequence[str],
    segments: Mapping[str, Sequence[Any]],
    members: npt.NDArray[np.float64] | None = None,
) -> tuple[Certificates, Quantiles]:
    """Certificates for every certified and joint-risk rule (per segment where asked) and conformal quantiles."""
    labels = policy.flow.labels
    truth = np.array([labels.index(h) for h in human], dtype=int)
    n = len(truth)
    batch = Batch(probabilities.reshape(n, len(labels)), [None] * n, members=members)
    correct = probabilities.argmax(axis=1) == truth if n else np.zeros(0, dtype=bool)
    certs: Certificates = {}
    quantiles: Quantiles = {}
    for rule in policy.learning_rules:
        if isinstance(rule, CertifiedRule | JointRiskRule):
            found = score_of(rule.score, batch)
            confidence = found if found is not None else np.zeros(0)
            correct_scored = correct if found is not None else np.zeros(0, dtype=bool)
        if isinstance(rule, CertifiedRule):
            certify = stats.certify_selective if rule.method == "learn-then-test" else stats.sgr
            if rule.segment_field is None:
                certs[rule.name] = {None: certify(confidence, correct_scored, rule.alpha, rule.delta)}
            else:
                keys = np.array(
                    [None if v is None else str(v) for v in segments.get(rule.segment_field, [])], dtype=object
                )
                certs[rule.name] = {
                    key: certify(confidence[keys == key], correct_scored[keys == key], rule.alpha, rule.delta)
                    for key in sorted({k for k in keys if k is not None})
                }
        elif isinstance(rule, JointRiskRule):
            certs[rule.name] = {None: stats.conformal_risk_control(confidence, correct_scored, rule.alpha)}
        elif isinstance(rule, ConformalRule):
            quantiles[rule.name] = stats.conformal_quantile(probabilities, truth, rule.alpha)
    return certs, quantiles
