"""Shadow and canary on both databases: a shadow scores every case without effect; a canary routes its sticky share
with the champion's scores beside; an injected worse canary (trained on flipped labels) is rolled back by itself
once it has the configured evidence, and the store shows every case decided exactly once across the switch."""

from __future__ import annotations

import dataclasses
import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from helpers.promotion import GATE, gated_project, register, world
from helpers.queues import reviewer
from helpers.registry import training_set
from signoff import intake, review
from signoff.config import Project
from signoff.domain import ModelStatus, User
from signoff.errors import Conflict, InvalidInput
from signoff.intake import validate_case
from signoff.learning import canary, promotion, registry
from signoff.learning.canary import in_share
from signoff.learning.train import train
from signoff.models.frames import frame_of
from signoff.observe.prometheus import SHADOW_UNSCORED
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases, decisions, predictions, routes, shadow_predictions, tasks

MIN_EVIDENCE = 20


def canary_project(db: Database, folder: Path, n: int = 200) -> Project:
    """``gated_project`` with half the automatic decisions audited and a canary judged on 20 labelled cases."""
    learning = {"holdout": 0.45, "gate": GATE, "canary": {"min_evidence": MIN_EVIDENCE}}
    return gated_project(db, folder, n=n, learning=learning, audit={"rate": 0.5})


def flipped(db: Database, project: Project) -> str:
    """A model trained on the world's labels turned over: confidently wrong, the injected worse model."""
    flow = project.flow("test-flow")
    rows, truth = world(2000, seed=5)
    wrong = np.array(["good" if t == "bad" else "bad" for t in truth])
    model = train(frame_of(flow, rows), wrong, flow.fields, ["score", "amount", "group"], kind="linear")
    found = training_set(db, sha="flipped".ljust(64, "0"), id_=11)
    return registry.register(db, project, flow, model, training_set=found, metrics={}, parent=None, actor="t").version


def submit(db: Database, runtime: intake.FlowRuntime, start: int, n: int, seed: int) -> dict[float, str]:
    """Submit ``n`` fresh cases of the world (external ids ``n{start}``...); their true labels by score."""
    rows, truth = world(n, seed=seed)
    found = [validate_case(runtime.flow, f"n{start + i}", row, f"cases[{i}]")[0] for i, row in enumerate(rows)]
    intake.submit(db, runtime, [c for c in found if c is not None], "tester")
    return {row["score"]: label for row, label in zip(rows, truth, strict=True)}


def review_all(db: Database, project: Project, alice: User, answers: dict[float, str]) -> None:
    """A reviewer who knows the truth answers every open task."""
    while (got := review.claim(db, project, alice, rng=random.Random(1))) is not None:
        with db.transaction(write=False) as conn:
            fields = conn.execute(select(cases.c.fields).where(cases.c.id == got.case_id)).scalar_one()
        review.submit(db, project, alice, got.task_id, got.token, answers[fields["score"]])


def routed_by(db: Database) -> dict[int, int]:
    """The model version whose prediction routed each case."""
    with db.transaction(write=False) as conn:
        query = select(routes.c.case_id, predictions.c.model_version_id).join(
            predictions, predictions.c.id == routes.c.prediction_id
        )
        return {int(r.case_id): int(r.model_version_id) for r in conn.execute(query)}


def count(db: Database, table: Any, *where: Any) -> int:
    with db.transaction(write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_the_share_is_sticky_stable_and_close_to_its_size() -> None:
    keys = [f"id:{i}" for i in range(20_000)]
    first = in_share("credit", 7, keys, 0.1)
    assert np.array_equal(first, in_share("credit", 7, keys, 0.1))  # the same in any process, at any time
    assert abs(first.mean() - 0.1) < 0.01
    assert not np.array_equal(first, in_share("credit", 8, keys, 0.1))  # a new canary draws a new share
    assert (first <= in_share("credit", 7, keys, 0.2)).all()  # a larger share keeps the cases of the smaller one


def test_a_shadow_scores_every_case_beside_the_champion_without_effect(db: Database, tmp_path: Path) -> None:
    project = canary_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "better")
    with pytest.raises(InvalidInput, match="reason"):
        canary.shadow(db, project, flow, version, actor="owner", reason=" ")
    shadowed = canary.shadow(db, project, flow, version, actor="owner", reason="watch it on live traffic")
    assert shadowed.status is ModelStatus.SHADOW
    runtime = intake.prepare(db, project)["test-flow"]
    assert runtime.challenger is not None and runtime.challenger.status is ModelStatus.SHADOW
    before = routed_by(db)
    submit(db, runtime, 0, 100, seed=7)
    after = routed_by(db)
    new = set(after) - set(before)
    assert len(new) == 100 and {after[c] for c in new} == {runtime.model_version_id}  # the champion routed all
    assert count(db, predictions, predictions.c.case_id.in_(new)) == 100  # one prediction each: the champion's
    assert count(db, shadow_predictions, shadow_predictions.c.model_version_id == shadowed.id) == 100
    assert count(db, decisions, decisions.c.model_version_id == shadowed.id) == 0
    [event] = [e for e in events(db) if e.action == "model.shadow_started"]
    assert event.data == {"flow": "test-flow", "version": version, "reason": "watch it on live traffic"}
    running = canary.running(db, flow)
    assert running is not None and running.cases == 100 and not running.worse

    # a shadow that fails to score never stops intake: its cases are recorded, its failures counted
    challenger = runtime.challenger
    broken = dataclasses.replace(challenger.runtime.model, predict=_fail)
    runtime = dataclasses.replace(
        runtime,
        challenger=dataclasses.replace(challenger, runtime=dataclasses.replace(challenger.runtime, model=broken)),
    )
    counted = SHADOW_UNSCORED.labels("test-flow", version)._value.get()
    submit(db, runtime, 100, 10, seed=8)
    assert SHADOW_UNSCORED.labels("test-flow", version)._value.get() == counted + 10
    assert count(db, shadow_predictions, shadow_predictions.c.problem.is_not(None)) == 10
    assert len(routed_by(db)) == len(after) + 10


def _fail(frame: Any) -> Any:
    raise RuntimeError("the shadow's feature store is down")


def events(db: Database) -> list[Any]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(audit_events).order_by(audit_events.c.id)))


def test_a_canary_needs_a_valid_share_and_sticky_field_and_one_challenger_at_a_time(
    db: Database, tmp_path: Path
) -> None:
    project = canary_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "better")
    with pytest.raises(InvalidInput, match="share") as bad:
        canary.canary(db, project, flow, version, actor="owner", reason="try", share=1.5, sticky_by="nope")
    assert "'nope' is not a field of type string/category/integer" in str(bad.value.problems)
    with pytest.raises(Conflict, match="is the champion"):
        canary.canary(db, project, flow, "test-1", actor="owner", reason="try")
    canary.shadow(db, project, flow, version, actor="owner", reason="first")
    other = register(db, project, "worse")
    with pytest.raises(Conflict, match=f"{version} is in shadow for flow 'test-flow'; end it first"):
        canary.canary(db, project, flow, other, actor="owner", reason="try")
    started = canary.canary(db, project, flow, version, actor="owner", reason="shadow looked fine", sticky_by="group")
    assert (started.status, started.canary_share, started.canary_sticky_by) == (ModelStatus.CANARY, 0.1, "group")
    done = canary.rollback(db, project, flow, None, actor="owner", reason="enough")
    assert (done.previous.version, done.version.version) == (version, "test-1")
    assert registry.version(db, flow, version).status is ModelStatus.CANDIDATE
    assert registry.champion(db, flow).version == "test-1"  # type: ignore[union-attr]


def test_a_worse_canary_is_rolled_back_by_itself_and_no_case_is_decided_twice_or_lost(
    db: Database, tmp_path: Path
) -> None:
    project = canary_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = flipped(db, project)
    started = canary.canary(db, project, flow, version, actor="owner", reason="try the new model", share=0.5)
    runtimes = intake.prepare(db, project)
    stale = runtimes["test-flow"]  # a process that will not have refreshed when the canary ends
    assert stale.challenger is not None and stale.challenger.canary
    champion_id = stale.model_version_id
    rows, truth = world(200, seed=1)  # the cases gated_project submitted
    answers = {row["score"]: label for row, label in zip(rows, truth, strict=True)}
    submitted, batch, ended_at, alice = 200, 0, None, reviewer(db, "alice")
    while ended_at is None:
        batch += 1
        assert batch <= 10, "the canary was never rolled back"
        answers |= submit(db, runtimes["test-flow"], submitted, 40, seed=100 + batch)
        submitted += 40
        review_all(db, project, alice, answers)
        found = canary.watch(db, flow)
        assert found is not None
        if found.worse:
            ended_at = found
    # within the configured evidence: judged as soon as it had its 20 labelled cases, and no later
    assert MIN_EVIDENCE <= ended_at.labelled < MIN_EVIDENCE + 40
    assert ended_at.test is not None and ended_at.test.p_value < 0.05 and ended_at.test.z > 0
    assert registry.version(db, flow, version).status is ModelStatus.CANDIDATE
    [event] = [e for e in events(db) if e.action == "model.canary_rolled_back"]
    assert event.actor == "signoff" and event.data["worse"] is True and event.data["labelled"] == ended_at.labelled
    assert event.data["reason"].startswith("rolled back by itself: error ")
    assert canary.watch(db, flow) is None  # nothing left to watch

    # a process that has not refreshed yet routes no case by the ended canary: it sees the end when it writes
    by_canary = {c for c, v in routed_by(db).items() if v == started.id}
    assert by_canary
    answers |= submit(db, stale, submitted, 40, seed=999)
    submitted += 40
    assert {c for c, v in routed_by(db).items() if v == started.id} == by_canary
    intake.refresh(db, runtimes)
    assert runtimes["test-flow"].challenger is None
    answers |= submit(db, runtimes["test-flow"], submitted, 40, seed=1000)
    submitted += 40
    review_all(db, project, alice, answers)

    # the store: every submitted case recorded once, routed once, decided exactly once, by the version that routed it
    with db.transaction(write=False) as conn:
        case_ids = list(conn.execute(select(cases.c.id)).scalars())
        decided = {int(r.case_id): r for r in conn.execute(select(decisions))}
        route_count = conn.execute(select(routes.c.case_id, func.count()).group_by(routes.c.case_id)).all()
    assert len(case_ids) == len(set(case_ids)) == submitted
    assert sorted(decided) == sorted(case_ids)  # none lost, none undecided
    assert {n for _c, n in route_count} == {1} and len(route_count) == submitted
    by = routed_by(db)
    for case_id, decision in decided.items():
        if decision.decided_by == "model":
            assert decision.model_version_id == by[case_id]
    assert set(by.values()) == {champion_id, started.id}
    # the champion scored every case the canary routed, beside it
    assert count(db, shadow_predictions, shadow_predictions.c.model_version_id == champion_id) == len(by_canary)


def test_a_canary_no_worse_than_the_champion_keeps_its_share(db: Database, tmp_path: Path) -> None:
    project = canary_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "better")
    started = canary.canary(db, project, flow, version, actor="owner", reason="try it", share=0.5)
    runtimes = intake.prepare(db, project)
    rows, truth = world(200, seed=1)
    answers = {row["score"]: label for row, label in zip(rows, truth, strict=True)}
    alice = reviewer(db, "alice")
    for batch in range(3):
        answers |= submit(db, runtimes["test-flow"], 200 + 40 * batch, 40, seed=200 + batch)
        review_all(db, project, alice, answers)
    found = canary.watch(db, flow)
    assert found is not None and found.labelled >= MIN_EVIDENCE and not found.worse
    assert found.statement.endswith("not significantly worse")
    assert registry.version(db, flow, version).status is ModelStatus.CANARY
    assert started.id in set(routed_by(db).values())


def test_a_canary_promoted_through_the_gate_serves_every_case(db: Database, tmp_path: Path) -> None:
    project = canary_project(db, tmp_path, n=500)
    flow = project.flow("test-flow")
    version = register(db, project, "better")
    canary.canary(db, project, flow, version, actor="owner", reason="try it")
    runtimes = intake.prepare(db, project)
    assert runtimes["test-flow"].challenger is not None
    done = promotion.promote(db, project, flow, version, actor="owner", reason="the canary went well")
    assert not done.overridden and done.version.status is ModelStatus.CHAMPION
    assert registry.challenger(db, flow) is None
    intake.refresh(db, runtimes)
    served = runtimes["test-flow"]
    assert (served.model.version, served.challenger) == (version, None)
    submit(db, served, 1000, 20, seed=3)
    assert count(db, shadow_predictions) == 0


def test_a_canary_ended_while_cases_arrive_loses_none_and_routes_none_after(db: Database, tmp_path: Path) -> None:
    project = canary_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = flipped(db, project)
    started = canary.canary(db, project, flow, version, actor="owner", reason="try it", share=0.5)
    stale = intake.prepare(db, project)["test-flow"]  # never refreshed: only its write transaction sees the end
    failures: list[BaseException] = []

    begun = threading.Semaphore(0)

    def arrive(k: int) -> None:
        try:
            for b in range(5):
                submit(db, stale, 10_000 + 1000 * k + 20 * b, 20, seed=50 + 10 * k + b)
                if b == 1:
                    begun.release()  # two batches in: the canary may end now, while the rest arrive
        except BaseException as error:  # noqa: BLE001  # reported by the test below
            failures.append(error)
            begun.release()

    threads = [threading.Thread(target=arrive, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for _thread in threads:
        begun.acquire()
    canary.end(db, flow, version, actor="owner", reason="stop it")
    for thread in threads:
        thread.join()
    assert failures == []
    by_canary = {c for c, v in routed_by(db).items() if v == started.id}
    assert by_canary  # the first batches went to it in part
    submit(db, stale, 20_000, 40, seed=4)
    assert {c for c, v in routed_by(db).items() if v == started.id} == by_canary  # none after the end
    submitted = 200 + 4 * 5 * 20 + 40
    with db.transaction(write=False) as conn:
        rows = conn.execute(select(cases.c.id, cases.c.status)).all()
        decided = {int(r.case_id): r for r in conn.execute(select(decisions))}
        open_tasks = conn.execute(
            select(tasks.c.case_id, func.count()).where(tasks.c.kind == "review").group_by(tasks.c.case_id)
        ).all()
    assert len(rows) == submitted
    assert {n for _c, n in open_tasks} <= {1}  # a flagged case has one review task
    reviewed = {int(c) for c, _n in open_tasks}
    for case_id, status in rows:
        assert (status == "decided") == (case_id in decided) and (status == "in_review") == (case_id in reviewed)
    by = routed_by(db)
    assert len(by) == submitted and all(decided[c].model_version_id == by[c] for c in decided)
