"""The metrics' rollups: a flow's cases counted per hour by verdict and rule, and binned per feature and score
against a drift reference, so that a window reads a few thousand cells instead of every case.

A window ``[start, end)`` rarely starts or ends on the hour. It is read as the cells of the hours from the first
whole hour up to the hour holding ``end``, plus the cases of the part-hour before (read raw), minus the cases of
the hour holding ``end`` recorded at or after ``end`` (raw, usually none), plus the cases not folded yet (raw, the
newest ids). Every figure so read equals the full scan's: counts add up, and PSI is computed from the same bins.
The one figure with a bounded error is the KS distance of the scores, taken over 1/1000-wide bins
(``drift.ks_binned``). See docs/explanation/rollups.md.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from signoff.metrics import drift
from signoff.store import rollups as store
from signoff.store.database import Database
from signoff.store.rollups import CaseFact, Cells

HOUR = timedelta(hours=1)
COUNTS = store.COUNTS  # the scopes of the counts, which need no drift reference, start with it
VERDICT, DECIDED, FAIR, FEATURE, SCORE, FINE = "verdict", "decided", "fair", "feature", "score", "fine"
Window = dict[tuple[str, str], tuple[int, float]]  # (kind, key) -> (count, total) over one window


def floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floor = floor_hour(at)
    return floor if floor == at else floor + HOUR


def verdict_key(verdict: str, rule: str | None) -> str:
    return f"{verdict}\x1f{rule or ''}"


def split_key(key: str) -> tuple[str, str]:
    first, _, second = key.partition("\x1f")
    return first, second


def category_key(value: Hashable) -> str:
    """A category as a cell key: its JSON text, or a digest of it when long."""
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= 200 else "#" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Counting:
    """Cases per hour by verdict and rule, those the model decided at intake, and per group of each of
    ``attributes`` by whether they were flagged and the model's decision (empty when the model did not decide them
    at intake)."""

    attributes: tuple[str, ...]
    reads = ("groups",)  # the case columns ``cells_of`` looks at (see ``store.rollups.FACT_COLUMNS``)

    @property
    def scope(self) -> str:
        return COUNTS + ":" + hashlib.sha256(json.dumps(self.attributes).encode()).hexdigest()[:16]

    def cells_of(self, facts: Iterable[CaseFact]) -> Cells:
        """Counted per distinct (hour, verdict, rule, decision, groups) first, so the keys are made once per
        combination rather than once per case."""
        names = self.attributes
        combos: Counter[tuple[datetime, str, str | None, str | None, tuple[tuple[object, Hashable], ...]]] = Counter(
            (
                floor_hour(f.created_at),
                f.verdict,
                f.rule,
                f.model_decision,
                tuple(map(_identity, map(f.groups.get, names))),
            )
            for f in facts
        )
        cells: dict[tuple[datetime, str, str], int] = defaultdict(int)
        keys = _KeyCache()
        for (hour, verdict, rule, decision, groups), n in combos.items():
            cells[(hour, VERDICT, verdict_key(verdict, rule))] += n
            if decision is not None:
                cells[(hour, DECIDED, "model")] += n
            flagged = int(verdict == "review")
            for attribute, group in zip(self.attributes, groups, strict=True):
                cells[(hour, FAIR, f"{attribute}\x1f{keys(group)}\x1f{flagged}\x1f{decision or ''}")] += n
        return {key: (n, 0.0) for key, n in cells.items()}


_SPAN = 1 << 20  # (hour, bin) as one code: hour * _SPAN + bin; bins are fewer than this
_KEYED = object()  # marks an identity that is the category key itself


def _identity(value: Any) -> tuple[object, Hashable]:
    """What decides a value's ``category_key``: type and value for strings, integers, booleans and None (``True ==
    1`` but their keys differ), the key itself for anything else."""
    if value is None or type(value) in (str, int, bool):
        return type(value), value
    return _KEYED, category_key(value)


class _KeyCache:
    """``category_key`` once per distinct value (see ``_identity``)."""

    def __init__(self) -> None:
        self._known: dict[tuple[object, Hashable], str] = {}

    def __call__(self, identity: tuple[object, Hashable]) -> str:
        if identity not in self._known:
            kind, value = identity
            self._known[identity] = str(value) if kind is _KEYED else category_key(value)
        return self._known[identity]


def fair_key(key: str) -> tuple[str, str, bool, str]:
    """(attribute, group key, flagged, the model's decision or '') of a fairness cell's key."""
    attribute, group, flagged, decision = key.split("\x1f")
    return attribute, group, flagged == "1", decision


def category_value(key: str) -> Any:
    """The category a key was made from (a digest stays a digest)."""
    return key if key.startswith("#") else json.loads(key)


def _numbers(values: list[Any]) -> npt.NDArray[np.float64]:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True)
class Reference:
    """A drift reference as the cells need it: the bins (quantile edges per numeric feature, the categorical
    features, the score edges) and the reference's own counts in them."""

    numeric: dict[str, list[float]]  # feature -> inner edges
    numeric_counts: dict[str, list[int]]  # feature -> counts per bin, missing last
    categorical: dict[str, dict[str, int]]  # feature -> category key -> count
    score_edges: list[float]
    score_counts: list[int]
    fine_counts: list[int]
    score_mean: float | None
    reads = ("fields",)  # the case columns ``cells_of`` looks at (see ``store.rollups.FACT_COLUMNS``)

    @property
    def scope(self) -> str:
        """The cells' scope: a digest of the bins (not of the counts), so equal bins share cells."""
        bins = json.dumps([self.numeric, sorted(self.categorical), self.score_edges], sort_keys=True)
        return "drift:" + hashlib.sha256(bins.encode()).hexdigest()[:32]

    @classmethod
    def of(cls, columns: Mapping[str, npt.ArrayLike], scores: list[float]) -> Reference:
        """From the reference's columns (numbers as floats, categories as objects) and model scores."""
        numeric, numeric_counts, categorical = {}, {}, {}
        for name, column in columns.items():
            array = np.asarray(column)
            if array.dtype.kind in "iuf":
                edges = drift.quantile_edges(array)
                numeric[name] = [float(e) for e in edges]
                numeric_counts[name] = [int(c) for c in drift.binned(edges, array)]
            else:
                counted: dict[str, int] = defaultdict(int)
                for value, count in drift.categories(array).items():
                    counted[category_key(value)] += count
                categorical[name] = dict(counted)
        values = np.asarray(scores, dtype=np.float64)
        values = values[~np.isnan(values)]
        score_edges = drift.quantile_edges(values)
        fine = np.bincount([drift.fine_bin(s) for s in values], minlength=drift.FINE_BINS)
        return cls(
            numeric,
            numeric_counts,
            categorical,
            [float(e) for e in score_edges],
            [int(c) for c in drift.binned(score_edges, values)],
            [int(c) for c in fine],
            float(values.mean()) if values.size else None,
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Reference:
        return cls(**document)

    def cells_of(self, facts: Iterable[CaseFact]) -> Cells:
        """Cases per hour in this reference's bins: per feature, and the scores (also in fine bins for KS). Binned
        with numpy over all the hours at once: a cell is (hour, bin) counted with ``np.unique``."""
        facts = list(facts)
        hours: dict[datetime, int] = {}
        at = np.array([hours.setdefault(floor_hour(f.created_at), len(hours)) for f in facts], dtype=np.int64)
        by_index = list(hours)
        cells: Cells = {}

        def count(kind: str, prefix: str, where: npt.NDArray[np.int64], bins: npt.NDArray[np.int64]) -> None:
            codes, counts = np.unique(where * _SPAN + bins, return_counts=True)  # one code per (hour, bin)
            for code, n in zip(codes.tolist(), counts.tolist(), strict=True):
                cells[(by_index[code // _SPAN], kind, f"{prefix}{code % _SPAN}")] = (n, 0.0)

        if not facts:
            return cells
        for name, inner in self.numeric.items():
            edges = np.asarray(inner, dtype=np.float64)
            values = _numbers([f.fields.get(name) for f in facts])
            bins = np.where(np.isnan(values), edges.size + 1, np.searchsorted(edges, values, side="right"))
            count(FEATURE, f"{name}\x1f", at, bins)
        keys = _KeyCache()
        for name in self.categorical:
            counted = Counter(
                (h, keys(_identity(drift.category(f.fields.get(name)))))
                for h, f in zip(at.tolist(), facts, strict=True)
            )
            for (h, key), n in counted.items():
                cells[(by_index[h], FEATURE, f"{name}\x1f{key}")] = (n, 0.0)
        scores = _numbers([f.confidence for f in facts])
        present = ~np.isnan(scores)
        scored, where = scores[present], at[present]
        if not scored.size:
            return cells
        count(SCORE, "", where, np.searchsorted(np.asarray(self.score_edges, dtype=np.float64), scored, side="right"))
        fine = np.clip(np.trunc(scored * drift.FINE_BINS), 0, drift.FINE_BINS - 1).astype(np.int64)
        codes = where * _SPAN + fine
        order = np.argsort(codes, kind="stable")
        codes, ordered = codes[order], scored[order]
        starts = np.flatnonzero(np.diff(codes, prepend=-1))
        sizes = np.diff(starts, append=codes.size)
        sums = np.add.reduceat(ordered, starts)  # exact for one or two scores; more are summed again with fsum
        for code, start, size, total in zip(
            codes[starts].tolist(), starts.tolist(), sizes.tolist(), sums.tolist(), strict=True
        ):
            exact = total if size <= 2 else math.fsum(ordered[start : start + size].tolist())
            cells[(by_index[code // _SPAN], FINE, str(code % _SPAN))] = (size, exact)
        return cells

    def drift(self, window: Window) -> tuple[dict[str, drift.Stability | None], drift.ScoreDrift | None]:
        """Feature and score drift of a window's cells against this reference."""
        features: dict[str, drift.Stability | None] = {}
        per_feature: dict[str, dict[str, int]] = defaultdict(dict)
        for (kind, key), (count, _) in window.items():
            if kind == FEATURE and count:
                name, bin_key = split_key(key)
                per_feature[name][bin_key] = count
        for name, counts in self.numeric_counts.items():
            current = [per_feature[name].get(str(i), 0) for i in range(len(counts))]
            features[name] = drift.psi_binned(counts, current)
        for name, reference in self.categorical.items():
            features[name] = drift.psi_counted(reference, per_feature[name])
        current_scores = [window.get((SCORE, str(i)), (0, 0.0))[0] for i in range(len(self.score_counts))]
        fine = [window.get((FINE, str(i)), (0, 0.0)) for i in range(drift.FINE_BINS)]
        stability = drift.psi_binned(self.score_counts, current_scores)
        ks = drift.ks_binned(self.fine_counts, [n for n, _ in fine])
        n = sum(c for c, _ in fine)
        if stability is None or ks is None or self.score_mean is None or not n:
            return features, None
        return features, drift.ScoreDrift(stability, ks, self.score_mean, math.fsum(t for _, t in fine) / n)

    def document(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def fold(db: Database, flow: str, rollups: Iterable[Counting | Reference]) -> dict[str, int]:
    """Fold every final case of ``flow`` into the cells of each of ``rollups``, reading the new cases once for
    all of them; returns each scope's mark reached."""
    rollups = list(rollups)
    reads = {column for rollup in rollups for column in rollup.reads}
    scopes = {rollup.scope: rollup.cells_of for rollup in rollups}
    return store.fold(db, flow, scopes, store.final_case_id(db), reads=sorted(reads))


Raw = Callable[[Any, str, datetime, datetime, int | None, int | None], Cells]  # (conn, flow, start, end, up_to, above)


def raw_facts(rollup: Counting | Reference, reads: Iterable[str] | None = None) -> Raw:
    """A window's raw parts as ``rollup`` folds them: its cases read (only the columns in ``reads``, all that
    ``rollup`` reads by default) and made into cells."""
    columns = tuple(rollup.reads if reads is None else reads)

    def read(conn: Any, flow: str, start: datetime, end: datetime, up_to: int | None, above: int | None) -> Cells:
        if above is None:
            return rollup.cells_of(store.facts_between(conn, flow, start, end, up_to=up_to, reads=columns))
        # above the mark: walked along the ids (see ``store.rollups.facts_after``)
        found = store.facts_after(conn, flow, above, up_to, reads=columns)
        return rollup.cells_of([f for f in found if start <= f.created_at < end])

    return read


def raw_verdicts(conn: Any, flow: str, start: datetime, end: datetime, up_to: int | None, above: int | None) -> Cells:
    """A window's raw parts' verdict cells, counted by the database (``Counting`` makes the same cells)."""
    cells: Cells = {}
    hour = floor_hour(start)  # any hour: the window adds up the keys only
    for verdict, rule, n in store.verdicts_between(conn, flow, start, end, up_to=up_to, above=above):
        cells[(hour, VERDICT, verdict_key(verdict, rule))] = (n, 0.0)
    return cells


def window(
    conn: Any,
    flow: str,
    rollup: Counting | Reference,
    kinds: Iterable[str],
    start: datetime,
    end: datetime,
    mark: int,
    raw: Raw | None = None,
) -> Window:
    """The cells of ``kinds`` over ``[start, end)``: whole hours from the cells, the edges and the unfolded cases
    raw (see the module's docstring). ``mark``: up to which id ``rollup`` was folded. ``raw``: how the raw parts
    become cells (``raw_facts(rollup)`` by default)."""
    kinds = tuple(kinds)
    raw = raw or raw_facts(rollup)
    first, last = ceil_hour(start), ceil_hour(end)
    found: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for cell in store.sums(conn, flow, rollup.scope, first, last, kinds):
        found[(cell.kind, cell.key)][0] += cell.count
        found[(cell.kind, cell.key)][1] += cell.total
    parts = [(1, raw(conn, flow, first, end, None, mark))]  # the cases not folded yet
    if start < first:
        parts.append((1, raw(conn, flow, start, first, None, None)))
    if end < last:
        parts.append((-1, raw(conn, flow, end, last, mark, None)))
    wanted = set(kinds)
    for sign, cells in parts:
        for (_, kind, key), (count, total) in cells.items():
            if kind in wanted:
                found[(kind, key)][0] += sign * count
                found[(kind, key)][1] += sign * total
    return {key: (int(n), float(t)) for key, (n, t) in found.items() if n}
