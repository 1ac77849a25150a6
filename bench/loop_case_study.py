"""The learning loop's case study, run through Signoff itself: does weekly retraining with gated promotion beat a
model that is never retrained?

Per data set and seed, a project on a SQLite file in a temporary folder. The cases keep their order in the data
(their time order). A model is trained on the first 20% (the flow file's model, the same calibrated gradient boosting
as Signoff's default trainer); a fixed test set, a random quarter of the rest (drawn by the seed), is never
submitted; the other cases arrive in weekly batches, each week in seven daily submissions through ``intake.submit``
with the flow's policy: a capacity rule flags the least confident 7% for review (``budget: 0.07``) and a random 1% of
the cases the model decided is drawn for audit (``audit.rate: 0.01``; its draws come from the seed, through the flow
runtime's ``draws``, so a seed's run can be repeated). Simulated reviewers claim and submit every
task through ``signoff.review`` and give the true label 95% of the time. Late ground truth: the true label of every
case (reviewed or not) is recorded as an outcome ``--outcome-delay`` weeks after its week (as a lender learns who
defaulted); ``--outcome-delay 0`` records none, so that models train on the reviewed cases alone. At the end of each
week the flow is retrained (``signoff.learning.retrain.retrain``: its labels, training set, default trainer and
registry); the flow's gate has ``auto_promote`` on (its other settings the defaults), so the retrain hands the
candidate to the promotion service (``signoff.learning.promotion.promote``: the evidence from the store, the gate,
the promotion or the audited refusal), whose decision the bench reads back from the audit trail
(``promotion.decisions``). The flow runtime is then refreshed (``intake.refresh``), which serves a new champion and
refills its capacity window.

Printed per run as it ends, week by week: the AUC on the fixed test set of the champion and of the never-retrained
model, the flag rate, the error of the cases the model decided alone and the promotion decisions. Then per data set,
over the seeds: the same figures (median and 10th-90th percentiles), how many seeds end at or above the baseline,
every promotion's change of AUC on the fixed test set, and the largest fall on the gate's held-out cases (overall
and in a group) of any promoted model against what the gate allows.

Data: ``credit_default`` (10,000 cases, ``../shared/datasets``, target ``default``) and ``drifting`` (20,000 cases
built with scikit-learn's ``make_classification``, seed 0, 10 features of which 6 informative; three informative
features drift: each observed value is the true one plus ``t`` standard deviations, ``t`` rising from 0 to 1.5 along
the time order, so the link between what a model sees and the label moves). The drift was set before any run and
not tuned.

Run: ``make bench-loop`` (20 seeds, 12 weeks, 2 processes); ``--quick`` for 3 seeds and 6 weeks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import skops.io as sio
import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from shared_data import credit_default_path
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score

from signoff import intake, review, users
from signoff.config import Flow, Project, parse_project
from signoff.config.flows import GateSpec
from signoff.domain import Role, User
from signoff.learning import outcomes, promotion, registry, retrain, trainers
from signoff.learning.train import train
from signoff.models.frames import frame_of
from signoff.store import migrate
from signoff.store.database import Database

FLOW = "loop"
LABELS = ("good", "bad")
INITIAL = 0.2  # the first share of the cases, by time, that the first model trains on
TEST = 0.25  # the share of the rest kept apart as the fixed test set
BUDGET = 0.07
AUDIT = 0.01
ACCURACY = 0.95  # how often a simulated reviewer gives the true label
DAYS = 7
ACTOR = "case-study"


@dataclass(frozen=True)
class Data:
    name: str
    fields: dict[str, dict[str, Any]]
    groups: list[str]
    rows: list[dict[str, Any]]
    y: npt.NDArray[np.int64]  # 1: bad


def credit() -> Data:
    path = credit_default_path()
    if path is None:
        raise SystemExit("shared/datasets/credit_default.csv was not found above this checkout")
    frame = pd.read_csv(path)  # default,student,balance,income; time order: the file's order
    rows = [
        {"balance": float(b), "income": float(i), "student": str(s).lower()}
        for b, i, s in zip(frame["balance"], frame["income"], frame["student"], strict=True)
    ]
    fields: dict[str, dict[str, Any]] = {
        "balance": {"type": "number"},
        "income": {"type": "number"},
        "student": {"type": "category", "values": ["yes", "no"]},
    }
    return Data("credit_default", fields, ["student"], rows, np.asarray(frame["default"] == "Yes", dtype=np.int64))


def drifting(n: int = 20_000) -> Data:
    x, y = make_classification(
        n_samples=n, n_features=10, n_informative=6, n_redundant=2, flip_y=0.01, shuffle=False, random_state=0
    )
    order = np.random.default_rng(0).permutation(n)  # unshuffled, the rows come sorted by class and cluster
    x, y = x[order], y[order]  # the columns stay in place: the first six are the informative ones
    t = np.linspace(0.0, 1.5, n)[:, None]
    x[:, :3] += t * x[:, :3].std(axis=0)  # three informative features drift by up to 1.5 standard deviations
    names = [f"x{i}" for i in range(x.shape[1])]
    rows = [{name: float(v) for name, v in zip(names, row, strict=True)} for row in x]
    return Data("drifting", {name: {"type": "number"} for name in names}, [], rows, np.asarray(y, dtype=np.int64))


DATASETS = {"credit_default": credit, "drifting": drifting}


def _document(data: Data, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "labels": list(LABELS),
        "fields": data.fields,
        "groups": data.groups,
        "model": model,
        "policy": [{"name": "budget", "kind": "capacity", "budget": BUDGET}],
        "audit": {"rate": AUDIT},
        "queues": {"default": {"role": "reviewer", "lease_ttl": 600}},
        "learning": {"min_labels": 50, "gate": {"auto_promote": True}},  # otherwise the default gate
    }


def _project(folder: Path, data: Data, initial: slice) -> Project:
    """The project: its database, and its flow serving a model trained on the first cases."""
    draft = Flow.model_validate(
        {"name": FLOW, **_document(data, {"kind": "python", "entry_point": "x:y", "version": "draft"})}
    )
    frame = frame_of(draft, data.rows[initial])
    model = train(frame, np.array(LABELS)[data.y[initial]], draft.fields, trainers.features(draft), "calibrated")
    path = folder / "models" / "initial.skops"
    path.parent.mkdir(parents=True)
    sio.dump(model, path)
    spec = {"kind": "sklearn", "path": "models/initial.skops", "version": "initial"}
    spec["trusted_types"] = sio.get_untrusted_types(file=path)
    document = {"database_url": f"sqlite:///{folder / 'loop.db'}", "flows": {FLOW: _document(data, spec)}}
    file = folder / "signoff.yaml"
    file.write_text(yaml.safe_dump(document), encoding="utf-8")
    return parse_project(document, file)


@dataclass
class Week:
    week: int
    auc: float  # the champion's on the fixed test set, at the end of the week
    baseline: float  # the never-retrained model's
    cases: int = 0
    flagged: int = 0
    audited: int = 0
    auto: int = 0
    auto_wrong: int = 0
    reviews: int = 0
    outcomes: int = 0
    candidate: bool = False
    promoted: bool = False
    gate: str = ""
    candidate_auc: float | None = None  # the week's candidate's, promoted or not
    promoted_change: float | None = None  # the change of test AUC a promotion made
    held_out_change: float | None = None  # a promotion's change of AUC on the gate's held-out cases
    group_drop: float | None = None  # a promotion's largest drop of AUC in a group the gate judged


def _review(db: Database, project: Project, people: list[User], truth: dict[int, int], rng: np.random.Generator) -> int:
    """Simulated reviewers work the queue empty; how many reviews they submitted."""
    done = 0
    while True:
        person = people[done % len(people)]
        claim = review.claim(db, project, person, flow=FLOW)
        if claim is None:
            return done
        right = truth[claim.case_id]
        answer = right if rng.random() < ACCURACY else 1 - right
        review.submit(db, project, person, claim.task_id, claim.token, LABELS[answer])
        done += 1


def run_one(data: Data, seed: int, weeks: int, delay: int) -> list[Week]:
    rng = np.random.default_rng(seed)
    n = len(data.rows)
    start = int(n * INITIAL)
    rest = np.arange(start, n)
    test = np.sort(rng.choice(rest, int(len(rest) * TEST), replace=False))
    stream = np.setdiff1d(rest, test)
    batches = np.array_split(stream, weeks)
    with tempfile.TemporaryDirectory(prefix="signoff-loop-") as folder:
        project = _project(Path(folder), data, slice(0, start))
        flow = project.flows[FLOW]
        db = Database(project.database_url)
        try:
            migrate.upgrade(db)
            people = [users.create_user(db, f"reviewer-{i}", Role.REVIEWER, ACTOR)[0] for i in range(3)]
            runtimes = intake.prepare(db, project, ACTOR, draws=np.random.default_rng([seed, 1]))  # the audit's draws
            test_frame = frame_of(flow, [data.rows[i] for i in test])
            test_y = data.y[test]
            baseline_model = runtimes[FLOW].model

            def auc(model: Any) -> float:
                return float(roc_auc_score(test_y, model.score(test_frame).probabilities[:, 1]))

            baseline = auc(baseline_model)
            history = [Week(0, baseline, baseline)]
            case_ids: list[list[int]] = []
            truth: dict[int, int] = {}
            for week, batch in enumerate(batches, start=1):
                row = Week(week, 0.0, baseline, cases=len(batch))
                ids: list[int] = []
                for day in np.array_split(batch, DAYS):
                    inputs = []
                    for i in day:
                        case, problems = intake.validate_case(flow, f"c{i}", data.rows[i], f"case {i}")
                        assert case is not None, problems
                        inputs.append(case)
                    for i, sent in zip(day, intake.submit(db, runtimes[FLOW], inputs, ACTOR), strict=True):
                        ids.append(int(sent.case_id))
                        truth[int(sent.case_id)] = int(data.y[i])
                        row.flagged += sent.verdict == "review"
                        row.audited += sent.verdict == "audit"
                        if sent.decided_by == "model":
                            row.auto += 1
                            row.auto_wrong += sent.decision != LABELS[data.y[i]]
                case_ids.append(ids)
                row.reviews = _review(db, project, people, truth, rng)
                if delay > 0 and week - delay >= 1:
                    known = case_ids[week - delay - 1]
                    items = [
                        outcomes.OutcomeIn.of(f"case {c}", {"case_id": c, "label": LABELS[truth[c]]}) for c in known
                    ]
                    row.outcomes = len(outcomes.record(db, flow, items, ACTOR))
                # auto_promote: the promotion service
                result = retrain.retrain(db, project, flow, retrain.Worker(ACTOR))
                version = result.version
                if result.status == "failed":
                    row.gate = f"retrain failed: {result.error}"
                elif version is not None and version.status == "candidate":
                    row.candidate = True
                    row.candidate_auc = auc(registry.load(project, flow, registry.version(db, flow, version.version)))
                    _decided(row, promotion.decisions(db, flow, limit=1)[0], version.version, flow.learning.gate)
                else:
                    row.gate = result.reason or "no new candidate"
                intake.refresh(db, runtimes)
                row.auc = auc(runtimes[FLOW].model)
                if row.promoted:
                    row.promoted_change = row.auc - history[-1].auc
                history.append(row)
            return history
        finally:
            db.dispose()


def _decided(row: Week, decision: promotion.Decision, version: str, gate: GateSpec) -> None:
    """What the promotion service decided on the week's candidate, as its audit trail keeps it: promoted or
    refused, the conditions, and for a promotion the held-out evidence it rested on."""
    assert decision.version == version, f"the latest promotion decision is of {decision.version}, not {version}"
    row.promoted = decision.action == "model.promoted"
    evidence = decision.evidence
    row.gate = "; ".join(decision.refused or (evidence or {}).get("passed", ()))
    if row.promoted and evidence is not None:
        held_out = evidence["held_out"]
        row.held_out_change = held_out["challenger"]["auc"] - held_out["champion"]["auc"]
        drops = [
            g["champion"]["auc"] - g["challenger"]["auc"]
            for g in held_out["groups"]
            if g["champion"]["n"] >= gate.min_group_cases and None not in (g["champion"]["auc"], g["challenger"]["auc"])
        ]
        row.group_drop = max(drops, default=None)


def _job(name: str, seed: int, weeks: int, delay: int) -> tuple[str, int, list[dict[str, Any]]]:
    return name, seed, [asdict(w) for w in run_one(DATASETS[name](), seed, weeks, delay)]


def seed_table(name: str, seed: int, weeks: list[dict[str, Any]]) -> Table:
    """One run week by week: the champion's and the never-retrained model's AUC on the fixed test set, the flag
    rate, the error of the cases the model decided alone, and what the promotion service decided."""
    table = Table(title=f"{name}, seed {seed}")
    for column in ("week", "AUC loop", "AUC never retrained", "AUC candidate", "flag rate", "auto-decided error"):
        table.add_column(column, justify="right")
    table.add_column("promoted")
    for w in weeks:
        decided = "-" if not w["candidate"] else "yes" if w["promoted"] else "refused: " + w["gate"].split(":")[0]
        if w["promoted"] and w["held_out_change"] is not None:
            decided += f" (held-out {w['held_out_change']:+.4f}, test {w['promoted_change']:+.4f})"
        table.add_row(
            str(w["week"]),
            f"{w['auc']:.4f}",
            f"{w['baseline']:.4f}",
            "-" if w["candidate_auc"] is None else f"{w['candidate_auc']:.4f}",
            "-" if not w["cases"] else f"{w['flagged'] / w['cases']:.1%}",
            "-" if not w["auto"] else f"{w['auto_wrong'] / w['auto']:.2%}",
            decided,
        )
    return table


def _q(values: list[float], fmt: str = "{:.3f}") -> str:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return f"{fmt.format(p50)} ({fmt.format(p10)}-{fmt.format(p90)})"


def report(results: dict[str, list[list[dict[str, Any]]]], console: Console) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    gate = GateSpec()  # the flows' gate: the default settings
    for name, runs in results.items():
        seeds = len(runs)
        weeks = len(runs[0])
        table = Table(title=f"{name}: median (p10-p90) over {seeds} seeds; rates of the week's cases")
        for column in ("week", "AUC loop", "AUC never retrained", "AUC candidate", "flag rate", "audit"):
            table.add_column(column, justify="right")
        table.add_column("auto-decided error", justify="right")
        table.add_column("candidates / promotions (all seeds)", justify="right")
        for w in range(weeks):
            rows = [run[w] for run in runs]
            cases = [max(r["cases"], 1) for r in rows]
            candidates = [r["candidate_auc"] for r in rows if r["candidate_auc"] is not None]
            table.add_row(
                str(w),
                _q([r["auc"] for r in rows]),
                _q([r["baseline"] for r in rows]),
                _q(candidates) if candidates else "-",
                "-" if w == 0 else _q([r["flagged"] / c for r, c in zip(rows, cases, strict=True)], "{:.1%}"),
                "-" if w == 0 else _q([r["audited"] / c for r, c in zip(rows, cases, strict=True)], "{:.1%}"),
                "-" if w == 0 else _q([r["auto_wrong"] / max(r["auto"], 1) for r in rows], "{:.2%}"),
                "-" if w == 0 else f"{sum(r['candidate'] for r in rows)} / {sum(r['promoted'] for r in rows)}",
            )
        console.print(table)
        final = [(run[-1]["auc"], run[-1]["baseline"]) for run in runs]
        at_or_above = sum(a >= b for a, b in final)
        changes = [r["promoted_change"] for run in runs for r in run if r["promoted_change"] is not None]
        promotions = sum(r["promoted"] for run in runs for r in run)
        worse = [c for c in changes if c < 0]
        after = [r["flagged"] / r["cases"] for run in runs for r, p in zip(run[1:], run, strict=False) if p["promoted"]]
        loop, never = np.median([a for a, _ in final]), np.median([b for _, b in final])
        held = [r["held_out_change"] for run in runs for r in run if r["held_out_change"] is not None]
        drops = [r["group_drop"] for run in runs for r in run if r["group_drop"] is not None]
        worst = -min(held) if held else None  # the largest held-out worsening of a promoted model (negative: none)
        allowed = -gate.min_gain  # the gate promotes only a significant gain of at least min_gain
        kept = (worst is None or worst <= allowed) and max(drops, default=0.0) <= gate.max_group_drop
        console.print(
            f"{name}: the loop ends at or above the never-retrained model in {at_or_above} of {seeds} seeds "
            f"(final AUC median {loop:.4f} against {never:.4f}); "
            f"{promotions} promotions, {len(worse)} of them lowered the test AUC"
            + (f" (by at most {-min(worse):.4f})" if worse else "")
            + (f"; flag rate the week after a promotion: median {np.median(after):.1%}" if after else "")
        )
        refused = [r for run in runs for r in run if r["candidate"] and not r["promoted"]]
        conditions = Counter(r["gate"].split(":")[0] for r in refused)
        better = [r["candidate_auc"] - r["auc"] for r in refused if r["candidate_auc"] > r["auc"]]
        console.print(
            f"{name}: {len(refused)} candidates refused (first failed condition: "
            + ", ".join(f"{condition} {count}" for condition, count in conditions.most_common())
            + f"); {len(better)} of them were better than the champion on the fixed test set"
            + (f" (median by {np.median(better):.4f}, at most {max(better):.4f})" if better else "")
        )
        group = f"at most {max(drops):.4f}" if drops else "none judged"
        console.print(
            f"{name}: on the gate's held-out cases the promoted models changed AUC by "
            + (f"{min(held):+.4f} at worst (median {np.median(held):+.4f})" if held else "- (no promotion)")
            + f", the gate allowing no fall (it asks a significant gain of at least {gate.min_gain}); a group's fall: "
            + f"{group} (allowed {gate.max_group_drop}). The gate "
            + ("held on every promotion." if kept else "was EXCEEDED.")
        )
        summary[name] = {
            "seeds": seeds,
            "at_or_above": at_or_above,
            "promotions": promotions,
            "promotions_lowering_test_auc": len(worse),
            "largest_drop": -min(worse) if worse else 0.0,
            "held_out_worst_change": min(held) if held else None,
            "largest_group_drop": max(drops) if drops else None,
            "gate_held": kept,
            "refused": len(refused),
            "refused_by": dict(conditions),
            "refused_better_on_test": len(better),
            "weeks": [
                {
                    "week": w,
                    "auc": [run[w]["auc"] for run in runs],
                    "baseline": [run[w]["baseline"] for run in runs],
                    "candidate": [run[w]["candidate_auc"] for run in runs],
                }
                for w in range(weeks)
            ],
        }
    return summary


def chart(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(summary), figsize=(6 * len(summary), 4), squeeze=False)
    for axis, (name, found) in zip(axes[0], summary.items(), strict=True):
        weeks = [w["week"] for w in found["weeks"]]
        served = np.array([w[key] for w in found["weeks"] for key in ("auc", "baseline")])
        top = max(float(served.max()), max((a for w in found["weeks"] for a in w["candidate"] if a), default=0.0))
        axis.set_ylim(float(served.min()) - 0.03, top + 0.005)  # the first candidates, on a few labels, fall below
        for key, label, colour in (
            ("auc", "weekly retraining, gated", "tab:blue"),
            ("baseline", "never retrained", "tab:grey"),
        ):
            values = np.array([w[key] for w in found["weeks"]])
            p10, p50, p90 = np.percentile(values, [10, 50, 90], axis=1)
            axis.plot(weeks, p50, color=colour, label=f"{label} (median)")
            axis.fill_between(weeks, p10, p90, color=colour, alpha=0.2, label=f"{label} (p10-p90)")
        candidates = np.array([[np.nan if a is None else a for a in w["candidate"]] for w in found["weeks"]])
        some = ~np.isnan(candidates).all(axis=1)
        if some.any():
            median = np.nanmedian(candidates[some], axis=1)
            axis.plot(np.array(weeks)[some], median, "--", color="tab:orange", label="the week's candidate (median)")
        axis.set_title(f"{name}: {found['seeds']} seeds")
        axis.set_xlabel("week")
        axis.set_ylabel("AUC on the fixed test set")
        axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="3 seeds and 6 weeks")
    parser.add_argument("--outcome-delay", type=int, default=4, help="weeks until a case's outcome is known; 0: none")
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=sorted(DATASETS))
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    parser.add_argument("--json", type=Path, help="write every run's weeks here (JSON lines, as each run ends)")
    parser.add_argument("--chart", type=Path, help="write the AUC chart (PNG) here")
    parser.add_argument("--report", type=Path, help="report an earlier run's --json instead of running")
    args = parser.parse_args()
    seeds, weeks = (3, 6) if args.quick else (args.seeds, args.weeks)
    if seeds < 1 or weeks < 1 or args.jobs < 1 or args.outcome_delay < 0:
        parser.error("--seeds, --weeks and --jobs must be at least 1, --outcome-delay at least 0")
    console = Console(width=max(Console().width, 150))
    began = time.perf_counter()
    if args.report is not None:  # the tables and chart again, from an earlier (perhaps unfinished) run's --json
        results = _read(args.report)
    else:
        results = _run_all(args.datasets, seeds, weeks, args.outcome_delay, args.jobs, console, args.json)
    summary = report(results, console)
    if args.chart is not None:
        chart(summary, args.chart)
    if args.report is not None:
        return
    console.print(
        f"{seeds} seeds x {weeks} weeks, outcome delay {args.outcome_delay} weeks, {args.jobs} processes; "
        f"{time.perf_counter() - began:.0f} s on {platform.machine()} with {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def _run_all(
    names: list[str], seeds: int, weeks: int, delay: int, jobs: int, console: Console, keep: Path | None
) -> dict[str, list[list[dict[str, Any]]]]:
    """Every run, seed by seed across the data sets; each finished run is appended to ``keep`` (JSON lines) at
    once, so that an interrupted benchmark still reports the runs it finished (``--report``)."""
    if keep is not None:
        keep.write_text("", encoding="utf-8")
    results: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name in names}
    runs = [(name, seed) for seed in range(seeds) for name in names]
    with Progress(console=console, transient=True) as progress, ProcessPoolExecutor(jobs) as pool:
        task = progress.add_task(f"{len(runs)} runs of {weeks} weeks", total=len(runs))
        futures = [pool.submit(_job, name, seed, weeks, delay) for name, seed in runs]
        for future in as_completed(futures):
            name, seed, found = future.result()
            results[name][seed] = found
            console.print(seed_table(name, seed, found))
            if keep is not None:
                with keep.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"dataset": name, "seed": seed, "weeks": found}) + "\n")
            progress.advance(task)
    return {name: [by_seed[s] for s in sorted(by_seed)] for name, by_seed in results.items()}


def _read(path: Path) -> dict[str, list[list[dict[str, Any]]]]:
    results: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        run = json.loads(line)
        results.setdefault(run["dataset"], {})[run["seed"]] = run["weeks"]
    return {name: [by_seed[s] for s in sorted(by_seed)] for name, by_seed in results.items()}


if __name__ == "__main__":
    main()
