"""A flow whose every case goes to review, and scenarios of it, for the simulator's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.builders import make_project
from signoff.config import Project
from signoff.sim.report import render
from signoff.sim.scenario import parse_scenario
from signoff.sim.simulate import Result, Simulation

SERVICE = 600.0  # seconds: a ten-minute review


def reviewed_project(folder: Path, **queue: Any) -> Project:
    """Every case scores 0.5, inside the review band: each one becomes a review task. Its cases file is written
    beside the project file."""
    (folder / "cases.csv").write_text("score,group,label\n0.5,a,good\n0.5,b,bad\n", encoding="utf-8")
    queues = {"default": {"role": "reviewer", "lease_ttl": 900, **queue}}
    return make_project(folder, "sqlite:///unused.db", queues=queues)


def scenario(reviewers: int, per_hour: float, hours: float, **more: Any) -> dict[str, Any]:
    """One pool of ``reviewers`` with exponential ten-minute reviews, Poisson arrivals of ``per_hour``."""
    return {
        "flow": "test-flow",
        "duration": f"{hours}h",
        "seed": 1,
        "cases": {"file": "cases.csv"},
        "arrivals": {"per_hour": per_hour},
        "reviewers": [{"name": "desk", "size": reviewers, "service_time": {"mean": f"{SERVICE}s"}, "accuracy": 0.9}],
        **more,
    }


def simulated(folder: Path, project: Project, document: dict[str, Any]) -> tuple[Result, str]:
    """Run a scenario in ``folder`` and return its result and its HTML report."""
    simulation = Simulation(parse_scenario(document, folder / "scenario.yaml"), project, folder / "simulation.db")
    try:
        result = simulation.run()
        return result, render(result, project, simulation.metrics())
    finally:
        simulation.close()
