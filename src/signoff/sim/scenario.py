"""A simulation scenario: the file ``signoff simulate`` reads (YAML), validated into immutable settings.

A scenario names a flow of the project, where its cases come from (a labelled file, or the built-in credit
applicants), how fast they arrive (per hour, shaped by hour of day and day of week), the reviewer pools that work
its queues (size, review time, accuracy), when the true outcomes come back, and optionally the policy to try
instead of the flow's (rules written as under a flow's ``policy:``). Durations are written as in the
project file's neighbours: 90s, 4m, 2h, 7d, or a number of seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from signoff import clock
from signoff.errors import ConfigError, Problem

Seconds = Annotated[float, BeforeValidator(clock.seconds)]


def _duration_or_zero(value: str | float) -> float:
    return 0.0 if value in (0, "0") else clock.seconds(value)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceTime(_Settings):
    """How long one review takes: exponential (M/M/c's), log-normal (``sigma`` of the log) or fixed."""

    distribution: Literal["exponential", "lognormal", "fixed"] = "exponential"
    mean: Seconds
    sigma: float = Field(default=0.5, gt=0, le=3)


class Pool(_Settings):
    """Reviewers alike: how many, how long they take, how often they give the true label."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    size: int = Field(ge=1, le=5000)
    service_time: ServiceTime
    accuracy: float = Field(default=1.0, ge=0, le=1)


class Arrivals(_Settings):
    """A Poisson process of ``per_hour`` cases, times the hour of day's and the weekday's factor (UTC). With
    ``batch``, intake takes the cases that arrived every ``batch`` seconds as one batch (as a broker's window or a
    file drop does), and a case's time is its batch's; by default each case is submitted the moment it arrives."""

    per_hour: float = Field(gt=0, le=1_000_000)
    by_hour: tuple[float, ...] | None = None
    by_weekday: tuple[float, ...] | None = None
    batch: Annotated[float, BeforeValidator(_duration_or_zero)] = 0.0

    @field_validator("by_hour", "by_weekday")
    @classmethod
    def _factors(cls, value: tuple[float, ...] | None, info: object) -> tuple[float, ...] | None:
        name = getattr(info, "field_name", "")
        if value is None:
            return None
        needed = 24 if name == "by_hour" else 7
        if len(value) != needed or min(value) < 0 or max(value) <= 0:
            raise ValueError(f"give {needed} factors >= 0, not all 0 (got {len(value)})")
        return value

    def rate(self, moment: datetime) -> float:
        """Cases per second at ``moment``."""
        factor = (self.by_hour[moment.hour] if self.by_hour else 1.0) * (
            self.by_weekday[moment.weekday()] if self.by_weekday else 1.0
        )
        return self.per_hour * factor / 3600


class Cases(_Settings):
    """Where cases come from: ``file`` (CSV, Parquet or JSON Lines, relative to the scenario) with the true label
    in ``label``, drawn at random with replacement; or ``generator: credit`` (``signoff.sim.credit``)."""

    file: Path | None = None
    label: str = "label"
    generator: Literal["credit"] | None = None

    @field_validator("generator")
    @classmethod
    def _one_source(cls, value: str | None, info: object) -> str | None:
        data = getattr(info, "data", {})
        if (value is None) == (data.get("file") is None):
            raise ValueError("give exactly one of file and generator")
        return value


class Outcomes(_Settings):
    """The true label of a share of cases comes back ``delay`` after the case (a loan repaid or defaulted)."""

    delay: Seconds
    share: float = Field(default=1.0, gt=0, le=1)


class Scenario(_Settings):
    flow: str
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    duration: Seconds
    seed: int = 0
    cases: Cases
    arrivals: Arrivals
    reviewers: tuple[Pool, ...] = Field(min_length=1)
    outcomes: Outcomes | None = None
    escalate_every: Seconds = 300.0
    sla: Seconds | None = None  # the time to a decision the report measures against (default: the queue's SLA)
    policy: tuple[dict[str, object], ...] | None = None  # rules instead of the flow's, as under a flow's ``policy:``
    case_study: bool = False  # the report sets the run beside the credit case study of Signoff's specification

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_scenario(document: object, path: Path) -> Scenario:
    """A scenario from its parsed YAML; ``ConfigError`` naming every problem by its place in the file."""
    if not isinstance(document, dict):
        raise ConfigError(str(path), [Problem("(file)", "must be a mapping of scenario settings")])
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as error:
        problems = [Problem(".".join(str(part) for part in e["loc"]) or "(file)", e["msg"]) for e in error.errors()]
        raise ConfigError(str(path), problems) from None
    if scenario.cases.file is not None and not scenario.cases.file.is_absolute():
        scenario = scenario.model_copy(
            update={"cases": scenario.cases.model_copy(update={"file": path.parent / scenario.cases.file})}
        )
    names = [pool.name for pool in scenario.reviewers]
    if len(set(names)) != len(names):
        raise ConfigError(str(path), [Problem("reviewers", f"pool names must differ: {names}")])
    return scenario


def shipped() -> list[str]:
    """The names of the scenarios that come with Signoff (``signoff simulate credit``)."""
    folder = resources.files("signoff.sim").joinpath("scenarios")
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def resolve(name: str) -> Path:
    """A scenario file: ``name`` itself if it is a file, else the shipped scenario of that name."""
    path = Path(name)
    if path.exists() or name not in shipped():
        return path
    return Path(str(resources.files("signoff.sim").joinpath("scenarios", f"{name}.yaml")))


def load_scenario(path: Path) -> Scenario:
    """A scenario file read and validated; a missing file names the shipped scenarios too."""
    if not path.exists():
        raise ConfigError(str(path), [Problem("(file)", f"does not exist (shipped scenarios: {', '.join(shipped())})")])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(path), [Problem("(file)", f"cannot be read: {error.strerror}")]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(str(path), [Problem("(file)", f"is not valid YAML: {error}")]) from None
    return parse_scenario(document, path)
