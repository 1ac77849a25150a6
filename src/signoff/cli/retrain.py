"""``signoff retrain FLOW`` (one retrain now) and ``signoff worker`` (the long-running process that runs the
retrains the flows' schedules make due, takes over those a dead worker left, and seals their audit events)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from signoff.cli.common import ProjectOption, database, err, errors, fail, load_project, out, sealed
from signoff.learning import STALE_AFTER

if TYPE_CHECKING:
    from signoff.config import Project
    from signoff.database import Database
    from signoff.intake import FlowRuntime
    from signoff.learning.retrain import RetrainResult
    from signoff.periodic import Periodic

WORKER = "worker"  # the actor of the retrains a worker starts

StaleAfter = Annotated[
    float,
    typer.Option(
        min=1, help="Seconds without a heartbeat after which a running retrain counts as abandoned and is taken over."
    ),
]


def retrain_command(
    flow: Annotated[str, typer.Argument(help="The flow to retrain.")],
    stale_after: StaleAfter = STALE_AFTER,
    project: ProjectOption = None,
) -> None:
    """Retrain a flow now: build a training set from its usable labels, train, evaluate on the held-out set and
    register a candidate model version. Completes the flow's unfinished retrain if a dead worker left one."""
    from signoff.learning.retrain import Worker, retrain

    with sealed(project) as (loaded, db):
        worker = Worker("cli", stale_after=stale_after, progress=lambda m: err.print(m))
        result = retrain(db, loaded, loaded.flow(flow), worker)
    if result.status == "failed":
        fail(f"retrain run {result.run_id} of {flow} failed: {result.error}")
    for line in summary(result):
        out.print(line, highlight=False, soft_wrap=True)


def summary(result: RetrainResult) -> list[str]:
    """What a run did, in a few lines."""
    resumed = " (completing an unfinished run)" if result.resumed else ""
    head = f"Retrain run {result.run_id} of {result.flow}{resumed}"
    if result.version is None or result.training_set is None:
        return [f"{head}: nothing trained, {result.reason}."]
    ts = result.training_set
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items()))
    lines = [
        f"{head}: done.",
        f"  training set {ts.id}: {len(ts.train) + len(ts.validation)} labels ({len(ts.train)} train, "
        f"{len(ts.validation)} validation), up to {ts.window_end:%Y-%m-%d %H:%M:%S} UTC",
        f"  held-out: {metrics or 'no metrics'}",
    ]
    found = f"version {result.version.version} (id {result.version.id})"
    if result.new_version:
        lines.append(f"  registered {found} as a {result.version.status}")
    else:
        lines.append(f"  {found}, a {result.version.status}, was registered before: same training set, same model")
    if result.warning is not None:
        lines.append(f"  warning: {result.warning}")
    return lines


def _holding(project: Project) -> list[str]:
    """The flows whose remote model holds cases while it is down (``model.when_down: hold``)."""
    return [name for name, flow in project.flows.items() if flow.model is not None and flow.model.holds]


def worker(
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between looks for due retrains.")] = 30.0,
    stale_after: StaleAfter = STALE_AFTER,
    once: Annotated[bool, typer.Option("--once", help="One look: run what is due now, then exit.")] = False,
    project: ProjectOption = None,
) -> None:
    """Run the flows' scheduled retrains (learning.schedule: nightly, weekly, after N new labels) and complete the
    retrains a stopped worker left, deliver the project's webhooks, and route the cases held while a remote model
    was down once it answers again; several workers may run side by side.
    Stops on SIGTERM or Ctrl-C."""
    from signoff import audit, intake
    from signoff.audit import webhooks
    from signoff.intake import held
    from signoff.learning.retrain import Worker, run_due
    from signoff.periodic import Periodic

    with errors():
        loaded = load_project(project)
        db = database(loaded)

    holding = _holding(loaded)
    runtimes: dict[str, FlowRuntime] = {}

    def release() -> None:  # the cases held while a remote model was down, routed once it answers
        if not runtimes:
            runtimes.update({name: intake.load(loaded, loaded.flows[name], db, WORKER) for name in holding})
        intake.refresh(db, runtimes)
        if routed := held.release_all(db, runtimes, WORKER):
            out.print(f"Routed {routed} held case(s).")

    def look() -> None:
        for result in run_due(db, loaded, Worker(WORKER, stale_after=stale_after)):
            for line in summary(result):
                out.print(line, highlight=False, soft_wrap=True)
        if holding:
            release()
        audit.seal(db)

    if once:
        with errors():
            look()
            publish_due(db, loaded)  # a checkpoint if one is due; a full verification is not
        return
    stop = threading.Event()

    def _stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    jobs = [Periodic("retrains", look, poll), Periodic("audit sealer", lambda: audit.seal(db), 1.0, final=True)]
    if loaded.webhooks:  # beside the servers' or instead of them: one process at a time sends each webhook
        jobs.append(Periodic("webhooks", lambda: webhooks.deliver(db, loaded), 1.0))
    if holding:
        jobs.append(Periodic("held cases", release, 1.0))
    if (checkpoints := db.checkpointer()) is not None:
        jobs.append(checkpoints)
    with errors():
        jobs.extend(merkle_jobs(db, loaded))
    hooks = f" and delivering {len(loaded.webhooks)} webhook(s)" if loaded.webhooks else ""
    if loaded.checkpoints is not None:
        hooks += f"; signed Merkle checkpoints to {loaded.checkpoints.url}"
    out.print(f"Worker for {loaded.path}: looking for due retrains every {poll:g} s{hooks}.")
    for job in jobs:
        job.start()
    stop.wait()
    for job in jobs:
        job.stop()
    db.dispose()


def _merkle(db: Database, loaded: Project) -> tuple[Callable[[], int | None], Callable[[], object]] | None:
    """With a checkpoints section in the project: (write a signed Merkle checkpoint if one is due, verify the chain
    and the checkpoints and record what was found for the auditor's page)."""
    from signoff import audit
    from signoff.audit import checkpoints, transparency

    settings = loaded.checkpoints
    if settings is None:
        return None
    if settings.private_key is None:
        fail(f"{loaded.path}: checkpoints.private_key is not set: the worker signs the checkpoints with it", 2)
    key = checkpoints.load_private_key(Path(settings.private_key))
    check = transparency.checker(settings, db)

    def publish() -> int | None:
        written = transparency.publish(db, settings, key)
        return None if written is None else written.size

    return publish, partial(audit.verify_and_record, db, WORKER, check)


def merkle_jobs(db: Database, loaded: Project) -> list[Periodic]:
    """A look every second for a due checkpoint, and a full verification every ``checkpoints.verify_every`` s."""
    from signoff.periodic import Periodic

    found = _merkle(db, loaded)
    if found is None or loaded.checkpoints is None:
        return []
    publish, verify = found
    return [
        Periodic("merkle checkpoints", publish, 1.0),
        Periodic("audit verification", verify, loaded.checkpoints.verify_every),
    ]


def publish_due(db: Database, loaded: Project) -> None:
    """Write a checkpoint now if one is due, and say so."""
    found = _merkle(db, loaded)
    if found is not None and loaded.checkpoints is not None and (size := found[0]()) is not None:
        out.print(f"Wrote the checkpoint of {size} events to {loaded.checkpoints.url}.")
