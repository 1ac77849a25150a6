"""Routing throughput: 1M cases through threshold-style policies, beside a bare numpy peer in the same run.

The peer does only the arithmetic (``probabilities.max(axis=1) < t``); the engine also validates output, applies
the rule order, draws the random audit and keeps what it needs to word every reason on demand.
Run: ``make bench-routing`` (or ``python bench/routing_speed.py --cases 1000000``).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from signoff.config import Flow
from signoff.routing import Batch, Policy

POLICIES: dict[str, list[dict[str, object]]] = {
    "threshold": [{"name": "t", "kind": "threshold", "min_confidence": 0.8}],
    "band (seed: p < 0.45 or p > 0.95)": [
        {"name": "b", "kind": "band", "label": "bad", "low": 0.45, "high": 0.95, "review": "outside"}
    ],
    "threshold by segment and schedule": [
        {
            "name": "t",
            "kind": "threshold",
            "min_confidence": 0.8,
            "by_segment": {"field": "segment", "values": {"a": 0.85, "b": 0.75}},
            "schedule": {"timezone": "Europe/Berlin", "windows": [{"days": ["sun"], "value": 0.9}]},
        },
    ],
    "band + threshold + business rule + 2% audit": [
        {"name": "b", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"},
        {"name": "t", "kind": "threshold", "min_confidence": 0.8},
        {"name": "big", "kind": "expression", "when": "amount > 50000"},
    ],
}


def _flow(rules: list[dict[str, object]]) -> Flow:
    return Flow.model_validate(
        {
            "name": "bench",
            "labels": ["good", "bad"],
            "fields": {"amount": {"type": "number"}, "segment": {"type": "category", "values": ["a", "b"]}},
            "model": {"kind": "python", "entry_point": "x:y", "version": "1"},
            "policy": rules,
            "audit": {"rate": 0.02 if len(rules) > 2 else 0.0},
        }
    )


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.cases
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, n)
    probabilities = np.column_stack([1 - p, p])
    problems: list[str | None] = [None] * n
    columns = {
        "amount": rng.lognormal(9, 1.5, n),
        "segment": np.where(rng.random(n) < 0.5, "a", "b").astype(object),
    }
    batch = Batch(probabilities, problems, columns, datetime(2026, 11, 23, 12, tzinfo=UTC), rng.random(n))
    peer = _best(lambda: probabilities.max(axis=1) < 0.8, args.repeat)
    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}; {n:,} cases; best of {args.repeat}"
    )
    print(f"peer (bare numpy threshold): {n / peer / 1e6:8.1f} M cases/s")
    print(f"{'policy':48} {'cases/s':>12} {'vs peer':>8} {'flagged':>8}  target >= 1M cases/s")
    for name, rules in POLICIES.items():
        policy = Policy(_flow(rules))
        decisions = policy.decide(batch)
        took = _best(lambda policy=policy: policy.decide(batch), args.repeat)  # type: ignore[misc]
        flagged = float((decisions.verdict == 1).mean())
        verdict = "ok" if n / took >= 1e6 else "BELOW TARGET"
        print(f"{name:48} {n / took / 1e6:9.2f} M {peer / took:8.3f} {flagged:8.1%}  {verdict}")
    sample = 10_000
    decisions = Policy(_flow(POLICIES["threshold"])).decide(batch)
    start = time.perf_counter()
    for i in range(sample):
        decisions.route(i)
    worded = (time.perf_counter() - start) / sample
    print(f"wording one route's reason on demand: {worded * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
