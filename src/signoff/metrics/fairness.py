"""Fairness by group of one attribute, and its drift between two time windows (the seed's "bias score drift").

Per group: how often cases are flagged, approved, overridden by a reviewer, and wrong. Across groups: the
demographic parity difference and the equalized odds difference, computed by Fairlearn. A rate that is
undefined (no reviewed case, no known outcome) is None, never NaN; every rate comes with the count it is over.

Error rates and equalized odds need the truth, which is known only for audited or outcome-labelled cases. Where
outcomes arrive only for some decisions (a declined loan never defaults), the labelled cases are not a random
sample of the group, and these two measures describe the labelled cases only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from fairlearn.metrics import demographic_parity_difference as _fairlearn_dpd
from fairlearn.metrics import equalized_odds_difference as _fairlearn_eod

from signoff.errors import InvalidInput, Problem

Mask = npt.NDArray[np.bool_]
GroupMetric = Literal["flag_rate", "approval_rate", "override_rate", "error_rate"]
GapMetric = Literal["demographic_parity_difference", "equalized_odds_difference"]
GROUP_METRICS: tuple[GroupMetric, ...] = ("flag_rate", "approval_rate", "override_rate", "error_rate")


@dataclass(frozen=True)
class GroupRates:
    """One group's rates, each with the count it is taken over.

    ``flag_rate`` and ``approval_rate`` are over all ``n`` cases of the group; ``override_rate`` over the
    ``reviewed`` ones (a reviewer's decision differs from the model's label); ``error_rate`` over the
    ``labelled`` ones (the final decision differs from the truth).
    """

    n: int
    flag_rate: float
    approval_rate: float
    reviewed: int
    override_rate: float | None
    labelled: int
    error_rate: float | None

    def count(self, metric: GroupMetric) -> int:
        """How many cases ``metric`` is taken over."""
        return {"override_rate": self.reviewed, "error_rate": self.labelled}.get(metric, self.n)


@dataclass(frozen=True)
class FairnessReport:
    """The groups of one attribute and the gaps between them, for one window."""

    groups: dict[str, GroupRates]
    demographic_parity_difference: float | None
    equalized_odds_difference: float | None


def _bools(values: npt.ArrayLike, name: str, size: int) -> Mask:
    array = np.asarray(values)
    if array.shape != (size,) or not (array.dtype == np.bool_ or np.isin(array, (0, 1)).all()):
        raise InvalidInput([Problem(name, f"expected {size} booleans, one per case")])
    return array.astype(np.bool_)


def _optional_bools(values: Sequence[bool | None], name: str, size: int) -> tuple[Mask, Mask]:
    """(known, value) masks from booleans with None where the value is unknown."""
    if len(values) != size:
        raise InvalidInput([Problem(name, f"expected {size} values (or None), one per case, got {len(values)}")])
    known = np.fromiter((v is not None for v in values), dtype=np.bool_, count=size)
    value = np.fromiter((bool(v) for v in values), dtype=np.bool_, count=size)
    return known, value


def label(group: Hashable) -> str:
    """A group as reported: its text, or ``(missing)``."""
    return "(missing)" if group is None else str(group)


def _labels(groups: Sequence[Hashable]) -> npt.NDArray[np.str_]:
    return np.asarray([label(g) for g in groups], dtype=np.str_)


def _share(hits: Mask, among: Mask) -> float | None:
    total = int(among.sum())
    return float((hits & among).sum() / total) if total else None


def demographic_parity_difference(approved: npt.ArrayLike, groups: Sequence[Hashable]) -> float | None:
    """Largest minus smallest approval rate across groups: ``max_a P(approve | A=a) - min_a P(approve | A=a)``.

    0 means every group is approved equally often. Computed by ``fairlearn.metrics.demographic_parity_difference``
    (Fairlearn user guide, "Common fairness metrics"; Agarwal et al. 2018, "A reductions approach to fair
    classification", ICML). None with fewer than two groups: there is nothing to compare.
    """
    labels = _labels(groups)
    positive = _bools(approved, "approved", labels.size)
    if np.unique(labels).size < 2:
        return None
    # y_true is unused by selection rates; Fairlearn requires one of the same length
    return float(_fairlearn_dpd(positive.astype(int), positive.astype(int), sensitive_features=labels))


def equalized_odds_difference(
    truth: npt.ArrayLike, approved: npt.ArrayLike, groups: Sequence[Hashable]
) -> float | None:
    """The larger of the gaps across groups in true positive rate and in false positive rate.

    ``max(max_a TPR_a - min_a TPR_a, max_a FPR_a - min_a FPR_a)`` with ``TPR_a = P(approve | truth, A=a)`` and
    ``FPR_a = P(approve | not truth, A=a)``: 0 means decisions are equally right and equally wrong in every
    group (Hardt, Price & Srebro 2016, "Equality of opportunity in supervised learning", NeurIPS). Computed by
    ``fairlearn.metrics.equalized_odds_difference`` (``agg="worst_case"``). None with fewer than two groups, or
    when a group has no positive or no negative truth: Fairlearn would then count the undefined rate as 0 and
    report a gap that is an artefact of the data.
    """
    labels = _labels(groups)
    y = _bools(truth, "truth", labels.size)
    positive = _bools(approved, "approved", labels.size)
    names = np.unique(labels)
    if names.size < 2:
        return None
    for name in names:
        in_group = labels == name
        if not y[in_group].any() or y[in_group].all():
            return None
    return float(_fairlearn_eod(y.astype(int), positive.astype(int), sensitive_features=labels, agg="worst_case"))


Cell = tuple[str, bool, bool, bool | None, bool | None]  # (group, flagged, approved, overridden, truth)


def fairness_report(
    groups: Sequence[Hashable],
    flagged: npt.ArrayLike,
    approved: npt.ArrayLike,
    overridden: Sequence[bool | None],
    truth: Sequence[bool | None],
) -> FairnessReport:
    """Per-group rates and the two gaps for one attribute over one window of cases.

    One entry per case in every argument: its group (None becomes ``"(missing)"``), whether it was flagged for
    review, whether the final decision was the favourable one (approval), whether a reviewer overrode the
    model (None if not reviewed), and whether the favourable decision was the right one (None if unknown).
    Demographic parity is over all cases; error rates and equalized odds over the labelled ones.
    """
    labels = _labels(groups)
    size = labels.size
    flag = _bools(flagged, "flagged", size)
    approve = _bools(approved, "approved", size)
    reviewed, override = _optional_bools(overridden, "overridden", size)
    labelled, right_answer = _optional_bools(truth, "truth", size)

    def known(which: Mask, values: Mask) -> list[bool | None]:
        return [bool(v) if k else None for k, v in zip(which.tolist(), values.tolist(), strict=True)]

    cells = Counter(
        zip(
            labels.tolist(),
            flag.tolist(),
            approve.tolist(),
            known(reviewed, override),
            known(labelled, right_answer),
            strict=True,
        )
    )
    return counted_report(cells)


def counted_report(cells: Mapping[Cell, int]) -> FairnessReport:
    """``fairness_report`` from counts: how many cases share each (group label, flagged, approved, overridden,
    truth), so that a window of a million cases is a few dozen numbers. The gaps are Fairlearn's (largest minus
    smallest selection rate; the worst of the true and false positive rates' gaps), taken from the same counts."""
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for (group, flagged, approved, overridden, truth), count in cells.items():
        if count < 0:
            raise InvalidInput([Problem("cells", f"expected counts of cases, got {count} for {group!r}")])
        seen = totals[group]
        seen["n"] += count
        seen["flagged"] += count * flagged
        seen["approved"] += count * approved
        if overridden is not None:
            seen["reviewed"] += count
            seen["overridden"] += count * overridden
        if truth is not None:
            seen["labelled"] += count
            seen["wrong"] += count * (approved != truth)
            seen["positive" if truth else "negative"] += count
            seen["true_positive" if truth else "false_positive"] += count * approved
    totals = {group: seen for group, seen in totals.items() if seen["n"]}
    rates = {
        group: GroupRates(
            n=seen["n"],
            flag_rate=seen["flagged"] / seen["n"],
            approval_rate=seen["approved"] / seen["n"],
            reviewed=seen["reviewed"],
            override_rate=seen["overridden"] / seen["reviewed"] if seen["reviewed"] else None,
            labelled=seen["labelled"],
            error_rate=seen["wrong"] / seen["labelled"] if seen["labelled"] else None,
        )
        for group, seen in sorted(totals.items())
    }
    return FairnessReport(rates, _spread([r.approval_rate for r in rates.values()]), _odds_gap(totals))


def _spread(values: list[float]) -> float | None:
    return max(values) - min(values) if len(values) >= 2 else None


def _odds_gap(totals: Mapping[str, Counter[str]]) -> float | None:
    """``equalized_odds_difference`` over the labelled cases counted in ``totals``: None with fewer than two groups
    labelled, or when one of them has no positive or no negative truth."""
    labelled = {group: seen for group, seen in totals.items() if seen["labelled"]}
    if len(labelled) < 2 or any(not seen["positive"] or not seen["negative"] for seen in labelled.values()):
        return None
    tpr = _spread([seen["true_positive"] / seen["positive"] for seen in labelled.values()])
    fpr = _spread([seen["false_positive"] / seen["negative"] for seen in labelled.values()])
    return max(tpr or 0.0, fpr or 0.0)


@dataclass(frozen=True)
class Movement:
    """A metric that moved between two windows by more than the threshold; ``group`` is None for the gaps."""

    metric: GroupMetric | GapMetric
    group: str | None
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before


def fairness_drift(
    before: FairnessReport, after: FairnessReport, threshold: float, min_count: int = 30
) -> list[Movement]:
    """The metrics whose absolute change from ``before`` to ``after`` exceeds ``threshold`` (for alerts).

    A group rate is compared only when it rests on at least ``min_count`` cases in both windows, so a group
    of five cases cannot raise an alert by chance; groups present in one window only and metrics that are None
    in either window are skipped. The gaps are compared whenever both windows have them. Largest move first.
    """
    if not threshold >= 0:
        raise InvalidInput([Problem("threshold", f"expected a non-negative number, got {threshold!r}")])
    moved: list[Movement] = []
    for name in sorted(before.groups.keys() & after.groups.keys()):
        old, new = before.groups[name], after.groups[name]
        for metric in GROUP_METRICS:
            a, b = getattr(old, metric), getattr(new, metric)
            if a is None or b is None or min(old.count(metric), new.count(metric)) < min_count:
                continue
            if abs(b - a) > threshold:
                moved.append(Movement(metric, name, a, b))
    gaps: tuple[GapMetric, ...] = ("demographic_parity_difference", "equalized_odds_difference")
    for gap in gaps:
        a, b = getattr(before, gap), getattr(after, gap)
        if a is not None and b is not None and abs(b - a) > threshold:
            moved.append(Movement(gap, None, a, b))
    return sorted(moved, key=lambda m: -abs(m.change))
