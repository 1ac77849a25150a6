"""Label validation and the labels a model may be trained on.

A case's labels can disagree: reviewers with each other, a reviewer with a gold case's known answer, a human decision
with the outcome that arrived later, two outcomes with each other; and a label can rest on a reviewer whom gold
tasks later paused for poor accuracy. ``check`` finds every such conflict and records it (once per case and kind);
``resolve`` records which label wins, by whom and why. ``training_labels`` never gives a case whose conflict is
not resolved.

The model's own decision is not a label: a review or an outcome that disagrees with it is the model being
corrected, which is what training is for, not a conflict. Flagging those would hold back exactly the random audit
sample's corrections and leave that sample biased toward the cases the model got right.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from signoff.audit import record
from signoff.config import Flow
from signoff.domain import AuditEvent, CaseId, CaseStatus, ConflictKind, DecidedBy, LabelSource, TaskKind
from signoff.errors import InvalidInput, NotFound, Problem
from signoff.learning.records import Label
from signoff.store import labels as store
from signoff.store import selections
from signoff.store.database import Database
from signoff.store.records import LabelConflict as LabelConflict  # the record the edges name

MAX_REASON = 1000


@dataclass(frozen=True)
class Found:
    """A conflict as the evidence shows it; ``details`` is the evidence (ids, people, labels), compared with the
    recorded one to tell whether a resolution still covers it."""

    case_id: CaseId
    kind: ConflictKind
    details: dict[str, Any]


def anonymous(conflict: LabelConflict) -> LabelConflict:
    """The conflict without the reviewers' names, for those who may not see who answered what (``oversee``)."""
    details = {
        key: [{k: v for k, v in item.items() if k != "reviewer"} for item in value] if key == "answers" else value
        for key, value in conflict.details.items()
    }
    return replace(conflict, details=details)


@dataclass(frozen=True)
class CheckReport:
    """What a check found: conflicts recorded now for the first time, reopened (resolved before, but the evidence
    grew since), updated (still open, with more evidence), and every open conflict of the flow after it."""

    found: int
    new: list[LabelConflict]
    reopened: list[LabelConflict]
    updated: list[LabelConflict]
    open: list[LabelConflict]


@dataclass(frozen=True)
class _Evidence:
    cases: dict[int, Row[Any]]
    answers: dict[int, list[Row[Any]]]
    decisions: dict[int, Row[Any]]
    outcomes: dict[int, list[Row[Any]]]
    gold: dict[int, str]
    pauses: list[Row[Any]]


def _evidence(conn: Connection, flow: str, until: datetime) -> _Evidence:
    answers: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in store.answers(conn, flow, until):
        answers[int(row.case_id)].append(row)
    outcomes: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in store.flow_outcomes(conn, flow, until):
        outcomes[int(row.case_id)].append(row)
    return _Evidence(
        {int(row.id): row for row in store.flow_cases(conn, flow, until)},
        answers,
        {int(row.case_id): row for row in store.flow_decisions(conn, flow, until)},
        outcomes,
        store.flow_gold(conn, flow),
        store.flow_pauses(conn, flow, until),
    )


_HUMAN = {
    DecidedBy.REVIEWER.value: LabelSource.REVIEW,
    DecidedBy.CONSENSUS.value: LabelSource.CONSENSUS,
    DecidedBy.ADJUDICATION.value: LabelSource.ADJUDICATION,
}


def _basis(answers: list[Row[Any]], decision: Row[Any] | None) -> list[Row[Any]]:
    """The answers a case's label rests on: the adjudicator's alone when adjudication decided, else every
    answer but gold tasks' and adjudications'."""
    if decision is not None and decision.decided_by == DecidedBy.ADJUDICATION.value:
        return [a for a in answers if a.id == decision.review_id]
    return [a for a in answers if a.kind not in (TaskKind.GOLD.value, TaskKind.ADJUDICATION.value)]


def _answer(row: Row[Any]) -> dict[str, Any]:
    return {"review_id": int(row.id), "reviewer": str(row.reviewer), "label": str(row.label), "task": str(row.kind)}


def _outcome(row: Row[Any]) -> dict[str, Any]:
    return {"outcome_id": int(row.id), "source": str(row.source), "label": str(row.label)}


def _suspect(answer: Row[Any], pauses: list[Row[Any]]) -> Row[Any] | None:
    """The pause that puts this answer in doubt: one of its reviewer's pauses on the answer's queue, made after
    the answer, with no earlier pause on that queue lifted between the two (a lift clears what came before)."""
    mine = [p for p in pauses if p.reviewer_id == answer.reviewer_id and p.queue == answer.queue]
    for pause in mine:
        if answer.created_at > pause.created_at:
            continue
        cleared = any(
            p.lifted_at is not None and answer.created_at <= p.lifted_at <= pause.created_at and p.id != pause.id
            for p in mine
        )
        if not cleared:
            return pause
    return None


def find(evidence: _Evidence) -> list[Found]:
    """Every conflict the evidence shows, by case then kind. Pure: the same evidence gives the same details."""
    found: list[Found] = []
    for case_id, case in sorted(evidence.cases.items()):
        cid = CaseId(case_id)
        answers = evidence.answers.get(case_id, [])
        outcomes = evidence.outcomes.get(case_id, [])
        if case.status == CaseStatus.GOLD.value:
            expected = evidence.gold.get(case_id)
            wrong = [_answer(a) for a in answers if expected is not None and a.label != expected]
            if wrong:
                found.append(Found(cid, ConflictKind.GOLD, {"expected": expected, "answers": wrong}))
            continue
        decision = evidence.decisions.get(case_id)
        if decision is not None:  # an undecided case's answers are still being settled by its queue
            basis = _basis(answers, decision)
            shown = {"label": str(decision.label), "decided_by": str(decision.decided_by)}
            labels = {a.label for a in basis}
            if len(labels) > 1:
                details = {"decision": shown, "answers": [_answer(a) for a in basis]}
                found.append(Found(cid, ConflictKind.REVIEWERS, details))
            human = {str(decision.label)} if decision.decided_by in _HUMAN else labels
            if len(human) == 1 and outcomes and {o.label for o in outcomes} != human:
                (label,) = human
                details = {"human": {"label": label, "decided_by": shown["decided_by"]}}
                found.append(Found(cid, ConflictKind.OUTCOME, details | {"outcomes": [_outcome(o) for o in outcomes]}))
            doubted = []
            for a in basis:
                pause = _suspect(a, evidence.pauses)
                if pause is not None:
                    doubted.append(_answer(a) | {"pause_id": int(pause.id), "queue": str(a.queue)})
            if doubted:
                found.append(Found(cid, ConflictKind.PAUSED, {"answers": doubted}))
        if len({o.label for o in outcomes}) > 1:
            found.append(Found(cid, ConflictKind.OUTCOMES, {"outcomes": [_outcome(o) for o in outcomes]}))
    return found


def check(db: Database, flow: Flow, actor: str) -> CheckReport:
    """Find the flow's label conflicts and record the new ones, in one transaction, each audited
    (``label_conflict.found``). Re-checking records nothing twice; a resolved conflict whose evidence grew since
    is reopened (``label_conflict.reopened``), since its resolution did not weigh the new labels."""
    with db.transaction() as conn:
        now = db.now(conn)
        found = find(_evidence(conn, flow.name, now))
        recorded = {(int(r.case_id), str(r.kind)): r for r in store.conflicts(conn, [flow.name])}
        new, reopened, updated, events = [], [], [], []
        for f in found:
            row = recorded.get((f.case_id, f.kind.value))
            data: dict[str, Any] = {"flow": flow.name, "kind": f.kind.value, "details": f.details}
            if row is None:
                values = {"flow": flow.name, "case_id": f.case_id, "kind": f.kind.value, "details": f.details}
                conflict_id = store.insert_conflict(conn, values | {"created_at": now})
                new.append(conflict_id)
                action = "label_conflict.found"
            elif dict(row.details) != f.details:
                conflict_id = int(row.id)
                reset = {"resolved_label": None, "resolved_by": None, "resolved_at": None, "reason": None}
                store.update_conflict(conn, conflict_id, details=f.details, **reset)
                if row.resolved_at is None:
                    updated.append(conflict_id)
                    action = "label_conflict.updated"
                else:
                    reopened.append(conflict_id)
                    action = "label_conflict.reopened"
                    data["previous"] = {"label": row.resolved_label, "by": row.resolved_by, "reason": row.reason}
            else:
                continue
            events.append(AuditEvent(actor, action, "case", str(f.case_id), {"conflict_id": conflict_id, **data}))
        record(db, conn, events, at=now)
        rows = {c.id: c for c in store.conflicts(conn, [flow.name])}
    return CheckReport(
        len(found),
        [rows[i] for i in new],
        [rows[i] for i in reopened],
        [rows[i] for i in updated],
        [c for c in rows.values() if not c.resolved],
    )


def conflicts(
    db: Database, flows: Collection[str] | None, *, status: str = "open", limit: int | None = None
) -> list[LabelConflict]:
    """Recorded conflicts of these flows (None: every flow), oldest first; ``status`` is open, resolved or all."""
    if status not in ("open", "resolved", "all"):
        raise InvalidInput([Problem("status", "must be open, resolved or all")])
    with db.transaction(write=False) as conn:
        return store.conflicts(conn, flows, status=status, limit=limit)


def resolve(db: Database, flow: Flow, conflict_id: int, label: str, reason: str, actor: str) -> LabelConflict:
    """Say which label wins a conflict and why (audited ``label_conflict.resolved``, with any earlier resolution
    it replaces). Resolving again with the same label changes nothing."""
    problems = []
    if label not in flow.labels:
        problems.append(Problem("label", f"must be one of {list(flow.labels)}, got {label!r}"[:300]))
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        problems.append(Problem("reason", f"say why, in 1 to {MAX_REASON} characters"))
    if problems:
        raise InvalidInput(problems, "the resolution is not valid")
    with db.transaction() as conn:
        row = store.conflict(conn, conflict_id, lock=True)
        if row is None or row.flow != flow.name:
            raise NotFound("label conflict", conflict_id)
        if row.resolved_label == label:
            return row
        now = db.now(conn)
        store.update_conflict(
            conn, conflict_id, resolved_label=label, resolved_by=actor, resolved_at=now, reason=reason.strip()
        )
        data: dict[str, Any] = {
            "conflict_id": conflict_id,
            "flow": flow.name,
            "kind": row.kind.value,
            "label": label,
            "reason": reason.strip(),
        }
        if row.resolved_label is not None:
            data["previous"] = {"label": row.resolved_label, "by": row.resolved_by, "reason": row.reason}
        record(db, conn, [AuditEvent(actor, "label_conflict.resolved", "case", str(row.case_id), data)], at=now)
        found = store.conflict(conn, conflict_id)
    assert found is not None
    return found


def training_labels(conn: Connection, flow: str, *, until: datetime) -> list[Label]:
    """One label per case of ``flow`` whose label was known at or before ``until``, by case id.

    Evidence recorded after ``until`` is not looked at. Gold cases never get a label. A case with a conflict,
    found in that evidence or recorded, that was not resolved by ``until`` (or whose evidence differs from what its
    resolution weighed) gets none. Otherwise, when a case has several labels, the first of these wins:

    1. ``resolution``: the label a lead or owner chose for the case's conflicts (the latest, if several);
    2. ``outcome``: the ground truth that arrived later (the latest recorded; outcomes that differ are a conflict);
    3. ``adjudication``, ``consensus`` or ``review``: the human decision of a flagged case;
    4. ``audit``: the review of a case the model decided and the random audit drew, with the route's
       ``inclusion_probability`` (its training weight is the inverse);
    5. ``exploration``: the review of a case the model decided alone and active learning offered to a reviewer
       with spare capacity, with the draw's selection probability (``al_selections``; its weight is the inverse).

    A case the model decided alone, or escalation's default action, has no label: that is the model's guess.
    ``labelled_at`` is when the winning label was recorded in Signoff.
    """
    evidence = _evidence(conn, flow, until)
    found: dict[tuple[int, str], Found] = {(f.case_id, f.kind.value): f for f in find(evidence)}
    blocked: set[int] = set()
    resolutions: dict[int, tuple[datetime, str]] = {}
    recorded = store.conflicts(conn, [flow])
    for row in recorded:
        case_id, live = int(row.case_id), found.pop((int(row.case_id), str(row.kind)), None)
        settled_at = row.resolved_at if row.resolved_at is not None and row.resolved_at <= until else None
        settled = settled_at is not None
        if live is not None and (not settled or dict(row.details) != live.details):
            blocked.add(case_id)
        elif live is None and not settled and row.created_at <= until:
            blocked.add(case_id)  # recorded and open then, though the evidence of that time no longer shows it
        elif settled_at is not None and (case_id not in resolutions or resolutions[case_id][0] < settled_at):
            resolutions[case_id] = (settled_at, str(row.resolved_label))
    blocked.update(case_id for case_id, _kind in found)  # found, never recorded: not checked, so not resolved
    inclusion = store.audit_inclusion(conn, flow)
    selected = selections.probabilities(conn, flow)
    labels: list[Label] = []
    for case_id, case in sorted(evidence.cases.items()):
        if case.status == CaseStatus.GOLD.value or case_id in blocked:
            continue
        cid, created = CaseId(case_id), case.created_at
        decision = evidence.decisions.get(case_id)
        outcomes = evidence.outcomes.get(case_id, [])
        audits = [a for a in evidence.answers.get(case_id, []) if a.kind == TaskKind.AUDIT.value]
        explored = [a for a in evidence.answers.get(case_id, []) if a.kind == TaskKind.EXPLORE.value]
        if case_id in resolutions:
            at, label = resolutions[case_id]
            labels.append(Label(cid, label, LabelSource.RESOLUTION, at, created))
        elif outcomes:
            latest = max(outcomes, key=lambda o: (o.created_at, o.id))
            labels.append(Label(cid, str(latest.label), LabelSource.OUTCOME, latest.created_at, created))
        elif decision is not None and decision.decided_by in _HUMAN:
            source = _HUMAN[decision.decided_by]
            labels.append(Label(cid, str(decision.label), source, decision.created_at, created))
        elif audits:
            latest = max(audits, key=lambda a: (a.created_at, a.id))
            probability = inclusion.get(case_id)
            labels.append(Label(cid, str(latest.label), LabelSource.AUDIT, latest.created_at, created, probability))
        elif explored:
            latest = max(explored, key=lambda a: (a.created_at, a.id))
            probability = selected.get(case_id)
            labels.append(
                Label(cid, str(latest.label), LabelSource.EXPLORATION, latest.created_at, created, probability)
            )
    return labels
