"""The policy part of a flow file: ordered routing rules, the random audit and calibration data.

Each rule says when a case goes to a person and, optionally, where: queue, role, priority and SLA.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME)]
Probability = Annotated[float, Field(ge=0, le=1)]
Rate = Annotated[float, Field(gt=0, lt=1)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Strict):
    """A weekly time window in the schedule's time zone; ``hours`` [start, end) may wrap past midnight."""

    days: tuple[Day, ...] = DAYS
    hours: tuple[int, int] = (0, 24)
    value: float

    @field_validator("hours")
    @classmethod
    def _hours(cls, hours: tuple[int, int]) -> tuple[int, int]:
        start, end = hours
        if not (0 <= start <= 23 and 1 <= end <= 24) or start == end:
            raise ValueError("hours must be [start, end) with 0 <= start <= 23, 1 <= end <= 24, start != end")
        return hours


class Schedule(Strict):
    """Limits by time of day and day of week; the first window that contains the moment applies."""

    timezone: str = "UTC"
    windows: tuple[Window, ...] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}; use an IANA name such as 'Europe/Berlin'") from None
        return zone


class BySegment(Strict):
    """A different limit for each value of a case field (e.g. customer segment or country)."""

    field: str
    values: dict[str, float] = Field(min_length=1)


class _Rule(Strict):
    name: Name
    queue: Name | None = None
    role: Literal["reviewer", "lead", "admin"] | None = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    sla: float | None = Field(default=None, gt=0, le=30 * 86_400, description="seconds until the task is due")


class _Dynamic(_Rule):
    """A rule whose limit may change by segment and by schedule (the schedule wins when a window applies)."""

    by_segment: BySegment | None = None
    schedule: Schedule | None = None


class ThresholdRule(_Dynamic):
    """Review when the top-class probability is below ``min_confidence``."""

    kind: Literal["threshold"]
    min_confidence: float = Field(gt=0, le=1)


class BandRule(_Rule):
    """Review by the probability of one label: inside the band [low, high], or outside it."""

    kind: Literal["band"]
    label: str
    low: Probability
    high: Probability
    review: Literal["inside", "outside"]

    @model_validator(mode="after")
    def _ordered(self) -> BandRule:
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low}) is greater than 'high' ({self.high})")
        return self


Measure = Literal["least_confidence", "margin", "entropy", "vote_entropy", "spread"]


class UncertaintyRule(_Dynamic):
    """Review when an uncertainty measure is above a limit (or, for ``margin``, below it)."""

    kind: Literal["uncertainty"]
    measure: Measure
    limit: float = Field(ge=0)

    @property
    def review_below(self) -> bool:
        return self.measure == "margin"


Score = Literal["confidence", "ensemble"]


class CapacityRule(_Rule):
    """Review the ``budget`` share of least confident cases, by a quantile of recent scores, updated online."""

    kind: Literal["capacity"]
    score: Score = "confidence"
    budget: Rate
    window: int = Field(default=10_000, ge=100, le=10_000_000)
    min_history: int = Field(default=1_000, ge=10)

    @model_validator(mode="after")
    def _history(self) -> CapacityRule:
        if self.min_history > self.window:
            raise ValueError(f"'min_history' ({self.min_history}) is larger than 'window' ({self.window})")
        return self


class CertifiedRule(_Rule):
    """Auto-decide only above a threshold certified so that error among auto-decided cases <= alpha with
    probability >= 1 - delta; review everything while the calibration data cannot support that claim."""

    kind: Literal["certified"]
    alpha: Rate
    score: Score = "confidence"
    delta: Rate = 0.05
    method: Literal["learn-then-test", "sgr"] = "learn-then-test"
    segment_field: str | None = None


class JointRiskRule(_Rule):
    """Keep the expected share of all cases that are auto-decided and wrong <= alpha (conformal risk control)."""

    kind: Literal["joint_risk"]
    alpha: Rate
    score: Score = "confidence"


class ConformalRule(_Rule):
    """Review whenever the conformal prediction set at level 1 - alpha is not a single label."""

    kind: Literal["conformal"]
    alpha: Rate


class Novelty(Strict):
    entry_point: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    limit: float


class OutOfDistributionRule(_Rule):
    """Review cases unlike the training data: numbers outside its range, categories it never saw, or a
    novelty score above a limit."""

    kind: Literal["out_of_distribution"]
    reference: str | None = Field(default=None, description="a CSV or Parquet file of the training data")
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    novelty: Novelty | None = None

    @model_validator(mode="after")
    def _something(self) -> OutOfDistributionRule:
        if self.reference is None and not self.ranges and not self.categories and self.novelty is None:
            raise ValueError("give a 'reference' file, 'ranges', 'categories' or 'novelty'")
        for field, (low, high) in self.ranges.items():
            if low > high:
                raise ValueError(f"range of {field!r}: {low} is greater than {high}")
        return self


class ExpressionRule(_Rule):
    """A business rule: review when the expression over case fields is true (e.g. ``amount > 50000``)."""

    kind: Literal["expression"]
    when: str = Field(min_length=1, max_length=1000)


Rule = Annotated[
    ThresholdRule
    | BandRule
    | UncertaintyRule
    | CapacityRule
    | CertifiedRule
    | JointRiskRule
    | ConformalRule
    | OutOfDistributionRule
    | ExpressionRule,
    Field(discriminator="kind"),
]


class AuditSpec(Strict):
    """Send a random share of auto-decided cases to review as well: the only unbiased measure of the model's
    real accuracy. The inclusion probability of every case is recorded so that estimates can be weighted."""

    rate: Probability = 0.0
    by_segment: BySegment | None = None
    queue: Name | None = None
    priority: int = Field(default=-10, ge=-1000, le=1000)

    @model_validator(mode="after")
    def _rates(self) -> AuditSpec:
        if self.by_segment is not None:
            bad = [v for v, r in self.by_segment.values.items() if not 0 <= r <= 1]
            if bad:
                raise ValueError(f"audit rates must be within [0, 1]; check {', '.join(map(repr, bad))}")
        return self


class CalibrationSpec(Strict):
    """Human-verified labels for certified, joint-risk and conformal rules, besides the random audit sample."""

    file: str | None = None
    label_column: str = "label"
    min_refresh: float = Field(default=300.0, ge=1, description="seconds between recalibrations in a server")
