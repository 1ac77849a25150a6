"""``signoff policy evaluate``: the CPU time of a replay, beside its floor, and of two alphas in one call.

The project is ``signoff init``'s, its flow's policy one certified rule (alpha 0.05) calibrated on 2,000
simulated applicants; the replay reads 1,000 others. The floor is what any replay must do: read the labelled
file, load the skops model and score the file. CPU time (user + system) per fresh process, as in
``cli_startup.py``; the runs alternate, ``--runs`` times each, and the median is reported.

Run: ``make bench-replay`` or ``.venv/bin/python bench/policy_replay.py``. It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from cli_startup import cpu

from signoff.sim.credit import applicants

FLOOR = """
import pandas as pd, skops.io as sio
frame = pd.read_csv("labelled.csv")
path = "models/credit.skops"
sio.load(path, trusted=sio.get_untrusted_types(file=path)).predict_proba(frame.drop(columns=["label"]))
"""


def main(runs: int) -> None:
    """Build the project, time the replays and the floor in turn, print the medians."""
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "project"
        subprocess.run([python, "-m", "signoff", "init", str(project)], check=True, capture_output=True)  # noqa: S603
        applicants(2000, seed=7).to_csv(project / "calibration.csv", index=False)
        applicants(1000, seed=99).to_csv(project / "labelled.csv", index=False)
        (project / "floor.py").write_text(FLOOR, encoding="utf-8")
        document = yaml.safe_load((project / "signoff.yaml").read_text(encoding="utf-8"))
        flow = document["flows"]["credit-approval"]
        flow["policy"] = [{"name": "certified-5pct", "kind": "certified", "alpha": 0.05}]
        flow["calibration"] = {"file": "calibration.csv"}
        (project / "signoff.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
        replay = [python, "-m", "signoff", "policy", "evaluate", "credit-approval", "--labeled", "labelled.csv"]
        cases = {
            "floor: read, load the model, score": [python, "floor.py"],
            "policy evaluate": replay,
            "policy evaluate --alpha 0.01 --alpha 0.05": [*replay, "--alpha", "0.01", "--alpha", "0.05"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):  # alternated, so that a busy moment touches every case alike
            for name, argv in cases.items():
                times[name].append(cpu(argv, project))
        assert not (project / "signoff.db").exists(), "a replay created a database"
    floor = statistics.median(times["floor: read, load the model, score"])
    print(f"CPU seconds per run, median of {runs} (min - max), and the ratio to the floor")
    for name, found in times.items():
        median = statistics.median(found)
        print(f"  {name:44} {median:6.3f}  ({min(found):.3f} - {max(found):.3f})  x{median / floor:4.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    main(parser.parse_args().runs)
