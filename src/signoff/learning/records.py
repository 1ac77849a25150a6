"""The records the learning loop passes between its steps: a usable label, a training set with its lineage, and
a challenger weighed against the champion (plain records, so that the API's bodies can describe them without
importing the numerical stack that measures them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signoff.domain import CaseId, LabelSource


@dataclass(frozen=True)
class Label:
    """One case's usable label: resolved where humans or outcomes disagreed, never a gold case's.

    ``labelled_at`` is when the label became known (a training window never takes a label newer than its end);
    ``case_created_at`` orders cases in time for the split; ``inclusion_probability`` is the chance the case was
    drawn into the random audit sample, or offered to spare capacity by active learning (its training weight is the
    inverse), ``None`` for any other source."""

    case_id: CaseId
    label: str
    source: LabelSource
    labelled_at: datetime
    case_created_at: datetime
    inclusion_probability: float | None = None


@dataclass(frozen=True)
class TrainingSet:
    """A recorded training set: which cases it trains and validates on, with which labels, from which window."""

    id: int
    flow: str
    train: tuple[Label, ...]
    validation: tuple[Label, ...]
    window_start: datetime
    window_end: datetime
    validation_start: datetime
    policy_version: str | None
    sha256: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Performance:
    """One model's figures on a set of labelled cases; ``ece`` is the expected calibration error, ``auc`` None
    with a single label among them. The routing figures are None without a policy: ``flag_rate`` is the (weighted)
    share of cases the policy sends to review, ``auto_error`` the (weighted) error among the others, None when the
    policy decides none."""

    n: int
    accuracy: float
    log_loss: float
    ece: float
    auc: float | None
    flag_rate: float | None = None
    auto_error: float | None = None

    def metric(self, name: str) -> float | None:
        """The figure called ``name`` (``accuracy``, ``auc``, ...)."""
        value: float | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class GroupComparison:
    """Both models on the cases of one group of one attribute (the flow's ``groups``)."""

    attribute: str
    group: str
    champion: Performance
    challenger: Performance


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on the paired errors. ``champion_only``: cases the champion gets right and the challenger
    wrong; ``challenger_only``: the reverse. Under the hypothesis that both models err equally often, each
    discordant case is a fair coin. ``exact``: the two-sided binomial p-value (fewer than 25 discordant cases),
    else the chi-square with continuity correction, ``statistic`` = (|b - c| - 1)² / (b + c)."""

    champion_only: int
    challenger_only: int
    statistic: float | None
    p_value: float
    exact: bool


@dataclass(frozen=True)
class PairedBootstrap:
    """The challenger's AUC minus the champion's on all cases (``difference``) and its percentile interval at
    ``confidence`` from ``resamples`` resamples of the cases, each case keeping both models' scores. Resamples
    with a single label, where AUC is undefined, are left out and counted in ``skipped``."""

    difference: float
    low: float
    high: float
    confidence: float
    resamples: int
    skipped: int
    seed: int


@dataclass(frozen=True)
class Comparison:
    """Everything measured of a challenger against the champion on one set of labelled cases; ``weighted`` when
    some case weighs other than 1 (the audit sample, exploration). ``effective_n`` is Kish's effective sample size,
    (sum of weights)^2 / sum of squared weights: ``n`` when no case weighs more than another, far fewer when a few
    heavy cases (an audit draw at 1% weighs 100) carry most of the weight."""

    labels: tuple[str, ...]
    n: int
    weighted: bool
    champion: Performance
    challenger: Performance
    mcnemar: McNemar
    auc_difference: PairedBootstrap | None  # None when AUC is undefined (a single label among the cases)
    groups: tuple[GroupComparison, ...]
    effective_n: float
