"""``signoff simulate``: events per second of a simulated week of the shipped credit scenario, through the engine
itself (intake, review, escalation and outcomes on a simulated clock, SQLite), beside a bare loop's rate: the same
heap of arrivals, claims and finished reviews for the same reviewers and arrival rate, with no engine at all. The
ratio says what driving the real engine costs per event; the bare loop is the floor any simulator pays.

With ``--batch`` (seconds, one or more), the scenario's intake window is set to each in turn, in the same run:
intake's cost is mostly per call (the model and the frame for one row cost nearly what they cost for sixty), so the
window sets the rate. The project is ``signoff init``'s. Run: ``.venv/bin/python bench/simulate.py [--days 7]
[--batch 60 300]``. It prints numbers and the load average; it asserts nothing.
"""

from __future__ import annotations

import argparse
import heapq
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from signoff.config import Project, load_project
from signoff.sim.scenario import Scenario, load_scenario, resolve
from signoff.sim.simulate import Simulation


def bare(per_hour: float, reviewers: int, service: float, seconds: float, seed: int = 1) -> tuple[int, float]:
    """An M/M/c queue as a bare event loop: (events, wall seconds)."""
    rng = random.Random(seed)
    start = time.perf_counter()
    heap: list[tuple[float, int, int]] = [(rng.expovariate(per_hour / 3600), 0, 0)]  # (time, order, kind)
    idle, waiting, order, events = reviewers, 0, 1, 0
    while heap and heap[0][0] <= seconds:
        now, _, kind = heapq.heappop(heap)
        events += 1
        if kind == 0:  # an arrival: a free reviewer takes it, or it waits
            heapq.heappush(heap, (now + rng.expovariate(per_hour / 3600), order, 0))
            order += 1
            if idle:
                idle -= 1
                heapq.heappush(heap, (now + rng.expovariate(1 / service), order, 1))
                order += 1
            else:
                waiting += 1
        elif waiting:  # a review finished: the reviewer takes the next
            waiting -= 1
            heapq.heappush(heap, (now + rng.expovariate(1 / service), order, 1))
            order += 1
        else:
            idle += 1
    return events, time.perf_counter() - start


def main(days: float, batches: list[float] | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project_dir = Path(folder) / "project"
        subprocess.run([sys.executable, "-m", "signoff", "init", str(project_dir)], check=True, capture_output=True)  # noqa: S603
        project = load_project(project_dir / "signoff.yaml")
        shipped = load_scenario(resolve("credit"))
        for batch in batches or [shipped.arrivals.batch]:
            arrivals = shipped.arrivals.model_copy(update={"batch": batch})
            scenario = shipped.model_copy(update={"duration": days * 86_400, "arrivals": arrivals})
            run(scenario, project, Path(folder) / f"simulation-{batch:g}.db")


def run(scenario: Scenario, project: Project, database: Path) -> None:
    days = scenario.duration / 86_400
    simulation = Simulation(scenario, project, database)
    try:
        result = simulation.run()
    finally:
        simulation.close()
    engine_rate = result.events / result.wall_seconds
    pool = scenario.reviewers[0]
    flagged_per_hour = result.sent_to_review / (scenario.duration / 3600)
    events, wall = bare(flagged_per_hour, pool.size, pool.service_time.mean, scenario.duration)
    bare_rate = events / wall
    load = Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]
    print(
        f"simulated {days:g} days of the credit scenario, intake window {scenario.arrivals.batch:g} s:"
        f" {result.cases:,} cases, {result.sent_to_review:,} reviewed"
    )
    print(f"engine:    {result.events:,} events in {result.wall_seconds:.1f} s = {engine_rate:,.0f} events/s")
    print(f"bare loop: {events:,} events in {wall:.3f} s = {bare_rate:,.0f} events/s")
    print(f"engine / bare loop: {engine_rate / bare_rate:.5f}; load average {' '.join(load)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--batch", type=float, nargs="+", help="intake windows to compare, in seconds")
    arguments = parser.parse_args()
    main(arguments.days, arguments.batch)
