"""Claim, heartbeat, submit and release. Every lease check happens in the database, on its clock."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

from sqlalchemy import Connection

from signoff import lifecycle, users
from signoff.audit import record
from signoff.config import Project, QueueSpec
from signoff.domain import ANY_FLOW, AuditEvent, CaseId, DecidedBy, Role, TaskId, TaskKind, TaskStatus, User
from signoff.errors import Forbidden, InvalidInput, LeaseRefused, NotFound, Problem, TaskClosed
from signoff.learning import exploration
from signoff.observe import tracing
from signoff.observe.prometheus import TURNAROUND_SECONDS
from signoff.review import gold, views, workload
from signoff.review.workload import lookback
from signoff.store import cases as case_store
from signoff.store import metrics as metric_store
from signoff.store import reviewers as people
from signoff.store import tasks as task_store
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.records import Case, Claim, Review, Task

MAX_COMMENT = 10_000


@dataclass(frozen=True)
class ReviewResult:
    """What a submitted review did: the review, and the case's decision as it stands. ``label`` and
    ``decided_by`` are None while the case awaits more answers (other consensus reviews, or an adjudication);
    an audit leaves the model's decision standing (``decided_by`` MODEL)."""

    review_id: int
    case_id: CaseId
    label: str | None
    decided_by: DecidedBy | None
    replayed: bool


# The task roles each user role may work: a lead also takes reviewer tasks, an admin every task.
ROLE_SCOPE: dict[Role, tuple[str, ...]] = {
    Role.ADMIN: ("reviewer", "lead", "admin"),
    Role.LEAD: ("reviewer", "lead"),
    Role.REVIEWER: ("reviewer",),
}


def task_roles(user: User, flow: str) -> frozenset[str]:
    """The task roles ``user`` may take on ``flow``, by the roles they hold there."""
    return frozenset(task_role for role in user.roles(flow) for task_role in ROLE_SCOPE.get(role, ()))


def workable_queues(project: Project, user: User) -> list[tuple[str, str]]:
    """The (flow, queue) pairs whose role this user may take, in the project's order (skills and pauses aside:
    those can change between two claims, and the claim judges them)."""
    return [(flow, queue) for flow, queue, _spec in _scope(project, user).queues]


@dataclass(frozen=True)
class _Scope:
    """What a user's grants let them claim in a project: the task roles they may take on some flow, the
    ``flow/role`` pairs among those they may not take (roles held on some flows only), and the queues whose role
    they may take, in the project's order."""

    roles: tuple[str, ...]
    refused: tuple[str, ...]
    queues: tuple[tuple[str, str, QueueSpec], ...]


_SCOPES: dict[tuple[int, User], tuple[Project, _Scope]] = {}
_MAX_SCOPES = 4096


def _scope(project: Project, user: User) -> _Scope:
    """The user's scope in the project, worked out once per project and user: both are frozen, and a change of
    grants makes another ``User``, so a kept scope is never stale. Claims no longer walk every flow's grants and
    queues each time; the skills and pauses that can change between two claims are judged by the claim."""
    key = (id(project), user)
    found = _SCOPES.get(key)
    if found is not None and found[0] is project:  # the same project, not one that took a freed one's id
        return found[1]
    by_flow = {name: task_roles(user, name) for name in project.flows}
    roles = tuple(sorted(set().union(*by_flow.values(), task_roles(user, ANY_FLOW))))
    refused = tuple(f"{flow}/{role}" for flow, allowed in by_flow.items() for role in roles if role not in allowed)
    queues = tuple(
        (f.name, name, spec)
        for f in project.flows.values()
        for name, spec in f.queues.items()
        if spec.role in by_flow[f.name]
    )
    if len(_SCOPES) >= _MAX_SCOPES:
        _SCOPES.clear()
    scope = _SCOPES[key] = (project, _Scope(roles, refused, queues))
    return scope[1]


def claim(
    db: Database,
    project: Project,
    user: User,
    *,
    flow: str | None = None,
    queue: str | None = None,
    rng: random.Random | None = None,
) -> Claim | None:
    """Lease the most urgent task this reviewer may take, or None if there is none for them.

    Refused (LimitReached) while a workload limit holds. Queues whose skills the reviewer lacks, or where
    gold tasks paused them, are passed over; a gold task is mixed in at its queue's rate. With no task left, a flow
    with ``learning.explore`` may offer an automatically decided case to label (``signoff.learning.exploration``).
    """
    start = tracing.now_ns()
    scope = _scope(project, user)
    limits = project.workload
    with db.transaction() as conn:
        me = people.profile(db, conn, user.id)
        now = me.now
        recent = limits.max_per_hour is not None or limits.max_continuous is not None
        times = people.review_times(conn, [user.id], now - lookback(limits)).get(user.id, []) if recent else []
        workload.check(limits, me.held, times, now)
        blocked = _blocked(scope, me)
        open_to_me = [
            (flow_name, name, spec)
            for flow_name, name, spec in scope.queues
            if f"{flow_name}/{name}" not in blocked and flow in (None, flow_name) and queue in (None, name)
        ]
        result = _serve_gold(db, conn, project, user, open_to_me, now, rng or _RNG)
        events: list[AuditEvent] = []
        if result is None:
            leased = None
            last = people.last_queues(conn, user.id, limits.rotate_after) if limits.rotate_after else []
            avoid = workload.rotation_due(limits, last)
            if avoid is not None:
                leased = _claim_row(db, conn, user, scope, [*blocked, "/".join(avoid)], flow, queue)
            if leased is None:
                leased = _claim_row(db, conn, user, scope, blocked, flow, queue)
            result = leased
        if result is None:
            explore = [(project.flow(f), name) for f, name, _spec in open_to_me]
            offered = exploration.offer(db, conn, explore, user, now, rng or _RNG, events)
            if offered is None:
                return None
            result = task_store.claim_of(offered)
        data = {"case_id": result.case_id, "token": result.token, "expires_at": result.expires_at.isoformat()}
        record(db, conn, [*events, AuditEvent(user.name, "task.claimed", "task", str(result.task_id), data)], at=now)
    _trace(db, "signoff.review.claim", result.case_id, start, result.flow, result.queue, result.kind)
    return result


def _blocked(scope: _Scope, me: people.Profile) -> list[str]:
    """The ``flow/queue`` pairs of the scope this reviewer may not work now: skills they lack, or a pause."""
    return [
        f"{flow}/{name}"
        for flow, name, spec in scope.queues
        if not set(spec.skills) <= me.skills or (flow, name) in me.paused
    ]


def _trace(
    db: Database,
    name: str,
    case_id: int,
    start: int,
    flow: str,
    queue: str,
    kind: TaskKind,
    decided_by: DecidedBy | None = None,
) -> None:
    """A span in the case's own trace (its stored traceparent), when tracing is on; a decision span under it."""
    if not tracing.enabled():
        return
    with db.transaction(write=False) as conn:
        parent = metric_store.traceparents(conn, [case_id]).get(case_id)
    attributes: dict[str, str | int | float | bool] = {
        "signoff.flow": flow,
        "signoff.queue": queue,
        "signoff.case_id": case_id,
        "signoff.task_kind": kind.value,
    }
    span = tracing.record_span(name, parent, start, attributes)
    if decided_by is not None:
        tracing.record_span(
            "signoff.decision", tracing.traceparent(span), start, {**attributes, "signoff.decided_by": decided_by.value}
        )


_RNG = random.Random()  # noqa: S311  # drawing gold tasks needs no cryptographic randomness


def _claim_row(
    db: Database,
    conn: Connection,
    user: User,
    scope: _Scope,
    blocked: list[str],
    flow: str | None,
    queue: str | None,
    task: TaskId | None = None,
) -> Claim | None:
    query = task_store.claim_query(
        db,
        reviewer=user.id,
        reviewer_name=user.name,
        roles=scope.roles,
        refused=scope.refused,
        blocked=blocked,
        flow=flow,
        queue=queue,
        task=task,
    )
    return task_store.claim(db, conn, user.id, query)


def _serve_gold(
    db: Database,
    conn: Connection,
    project: Project,
    user: User,
    queues: list[tuple[str, str, QueueSpec]],
    now: datetime,
    rng: random.Random,
) -> Claim | None:
    """With each gold queue's probability, a gold case this reviewer has not answered, as a new task leased
    to them; only in queues that have real work waiting, so gold never replaces an empty queue's silence."""
    for flow_name, name, spec in queues:
        if spec.gold is None or rng.random() >= spec.gold.rate or not people.has_open_work(conn, flow_name, name):
            continue
        case_id = people.gold_case_for(conn, flow_name, user.id, user.name)
        if case_id is None:
            continue
        opened = lifecycle.open_gold(db, conn, project.flow(flow_name), name, CaseId(case_id), user.id, now)
        return task_store.claim_of(opened)
    return None


def claimed_case(db: Database, user: User, claim: Claim) -> Case:
    """The case as its reviewer sees it while working ``claim``: blind to other reviewers' answers (except when
    adjudicating), and a gold task indistinguishable from any other review."""
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, claim.case_id)
    assert record is not None
    return views.case_shown(record, user, working=claim.task_id)


def _refusal(conn: Connection, task_id: TaskId, token: int, user: User) -> Exception:
    """Say exactly why a fenced call was refused; a task of a flow the caller may not review does not exist
    for them."""
    task = task_store.get(conn, task_id)
    if task is None or not users.may(user, "review", task.flow):
        return NotFound("task", task_id)
    if task.status is TaskStatus.DONE:
        return TaskClosed(task_id)
    if token > task.lease_token:
        return LeaseRefused(task_id, token, "no such lease was ever issued for this task")
    if token < task.lease_token:
        return LeaseRefused(task_id, token, f"a newer lease (token {task.lease_token}) has replaced it")
    if task.status is TaskStatus.QUEUED:
        return LeaseRefused(task_id, token, "it was released")
    if task.lease_owner != user.id:
        return LeaseRefused(task_id, token, "it is not held by you")
    expiry = task.lease_expires_at
    return LeaseRefused(task_id, token, f"it expired at {expiry.isoformat() if expiry else 'an earlier time'}")


def heartbeat(db: Database, user: User, task_id: TaskId, token: int) -> datetime:
    """Extend a held lease by its TTL and return the new expiry."""
    with db.transaction() as conn:
        return _extend(db, conn, user, task_id, token)


def _extend(db: Database, conn: Connection, user: User, task_id: TaskId, token: int) -> datetime:
    expires = task_store.extend(db, conn, task_id, token, user.id)
    if expires is None:
        raise _refusal(conn, task_id, token, user)
    data = {"token": token, "expires_at": expires.isoformat()}
    record(db, conn, [AuditEvent(user.name, "lease.extended", "task", str(task_id), data)])
    return expires


def held(db: Database, user: User) -> list[Claim]:
    """The leases ``user`` holds now, wherever they were claimed: a page that closed or crashed leaves its tasks
    leased until they expire, and its reviewer can take each up again (``resume``) or give it back (``release``)."""
    with db.transaction(write=False) as conn:
        return task_store.live_leases(db, conn, user.id)


def resume(db: Database, user: User, task_id: TaskId, token: int) -> Claim:
    """Take up a lease held from elsewhere (another page, a crashed one): renewed like a heartbeat, fenced the same
    way, and handed out as a claim. The token stays: it is the same lease, and the same reviewer."""
    with db.transaction() as conn:
        _extend(db, conn, user, task_id, token)
        task = task_store.get(conn, task_id)
    assert task is not None
    return task_store.claim_of(task)


def release(db: Database, user: User, task_id: TaskId, token: int) -> None:
    """Give the task back to its queue."""
    with db.transaction() as conn:
        if task_store.release(db, conn, task_id, token, user.id) is None:
            raise _refusal(conn, task_id, token, user)
        record(db, conn, [AuditEvent(user.name, "task.released", "task", str(task_id), {"token": token})])


MAX_REASON = 1000


def skip(db: Database, user: User, task_id: TaskId, token: int, reason: str, unsure: bool = False) -> None:
    """Pass a task on (or mark it unsure) with a reason: it goes back one priority higher, and this reviewer
    is not offered it again."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput([Problem("reason", f"say why, in 1 to {MAX_REASON} characters")], "the skip is not valid")
    with db.transaction() as conn:
        if task_store.skip(db, conn, task_id, token, user.id, reason, unsure) is None:
            raise _refusal(conn, task_id, token, user)
        data = {"token": token, "reason": reason, "unsure": unsure}
        record(db, conn, [AuditEvent(user.name, "task.skipped", "task", str(task_id), data)])


def _answer_problems(project: Project, flow_name: str, label: object, comment: object, at: str = "") -> list[Problem]:
    """What is wrong with a review's label and comment on ``flow_name``; ``at`` prefixes each location."""
    flow = project.flow(flow_name)
    problems = []
    if label not in flow.labels:
        problems.append(Problem(f"{at}label", f"must be one of {list(flow.labels)}, got {label!r}"[:300]))
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        problems.append(Problem(f"{at}comment", f"must be text of at most {MAX_COMMENT} characters"))
    return problems


def _check_answer(project: Project, flow_name: str, label: object, comment: object) -> None:
    problems = _answer_problems(project, flow_name, label, comment)
    if problems:
        raise InvalidInput(problems, "the review is not valid")


def submit(
    db: Database, project: Project, user: User, task_id: TaskId, token: int, label: str, comment: str = ""
) -> ReviewResult:
    """Record the review and the case's decision, only while the caller's lease is live.

    Sending the same review again on the same lease returns the first result instead of failing, so a
    reviewer whose connection dropped after submitting can safely retry.
    """
    start = tracing.now_ns()
    result, task = _submit(db, project, user, task_id, token, label, comment)
    if task is not None:
        decided = result.decided_by if result.decided_by in _HUMAN_DECISIONS else None
        _trace(db, "signoff.review.submit", result.case_id, start, task.flow, task.queue, task.kind, decided)
    return result


_HUMAN_DECISIONS = (DecidedBy.REVIEWER, DecidedBy.CONSENSUS, DecidedBy.ADJUDICATION)
# Task kinds whose review sits beside the model's decision instead of making one, and the event recording it.
_MODEL_STANDS = {TaskKind.AUDIT: "case.audited", TaskKind.EXPLORE: "case.explored"}


def _submit(
    db: Database, project: Project, user: User, task_id: TaskId, token: int, label: str, comment: str
) -> tuple[ReviewResult, Task | None]:
    """``submit``, returning the completed task too (None for a replay)."""
    with db.transaction() as conn:
        task = task_store.complete(db, conn, task_id, token, user.id)
        if task is None:
            return _replay(conn, project, user, task_id, token, label, comment), None
        return _answered(db, conn, project, user, task, token, label, comment), task


def _answered(
    db: Database, conn: Connection, project: Project, user: User, task: Task, token: int, label: str, comment: str
) -> ReviewResult:
    """Record the review of a task just completed on the lease ``token``, and what it does to its case (a
    decision, an answer awaiting others, a judged gold answer, a review beside the model's decision), with its
    audit events; in the caller's transaction."""
    _check_answer(project, task.flow, label, comment)  # refusing rolls the completion back
    assert task.completed_at is not None
    completed = task.completed_at
    if task.kind is not TaskKind.GOLD:
        TURNAROUND_SECONDS.labels(task.flow, task.queue).observe((completed - task.created_at).total_seconds())
    review = Review(0, task.id, task.case_id, user.id, token, label, comment, completed)
    review_id = task_store.insert_review(db, conn, review)
    events = [
        AuditEvent(
            user.name,
            "review.submitted",
            "task",
            str(task.id),
            {
                "case_id": task.case_id,
                "token": token,
                "review_id": review_id,
                "label": label,
                "comment": comment,
            },
        )
    ]
    match task.kind:
        case TaskKind.AUDIT | TaskKind.EXPLORE:
            # The model's decision stands (it was already acted on); the label measures and teaches the model.
            decision = case_store.decision_of(conn, task.case_id)
            data = {"label": label, "model_label": decision, "agrees": decision == label, "review_id": review_id}
            events.append(AuditEvent(user.name, _MODEL_STANDS[task.kind], "case", str(task.case_id), data))
            result = ReviewResult(review_id, task.case_id, decision or label, DecidedBy.MODEL, replayed=False)
        case TaskKind.GOLD:
            _judge_gold(conn, project, task, user, label, completed, events)
            result = ReviewResult(review_id, task.case_id, label, DecidedBy.REVIEWER, replayed=False)
        case TaskKind.REVIEW | TaskKind.ADJUDICATION:
            result = _settle(db, conn, project, task, user, review_id, label, completed, events)
        case unexpected:
            assert_never(unexpected)
    record(db, conn, events, at=completed)
    return result


def _replay(
    conn: Connection, project: Project, user: User, task_id: TaskId, token: int, label: str, comment: str
) -> ReviewResult:
    """The first result of this very review, sent again on the same lease; refused if it is not that."""
    task = task_store.get(conn, task_id)
    if task is None:
        raise NotFound("task", task_id)
    _check_answer(project, task.flow, label, comment)
    earlier = task_store.review_for(conn, task_id, token)
    if earlier is None or (earlier.reviewer_id, earlier.label, earlier.comment) != (user.id, label, comment):
        raise _refusal(conn, task_id, token, user)
    if task.kind in _MODEL_STANDS:  # the same answer the first submit gave
        decision = case_store.decision_of(conn, earlier.case_id)
        return ReviewResult(earlier.id, earlier.case_id, decision or label, DecidedBy.MODEL, replayed=True)
    return ReviewResult(earlier.id, earlier.case_id, label, DecidedBy.REVIEWER, replayed=True)


def _judge_gold(
    conn: Connection, project: Project, task: Task, user: User, label: str, now: datetime, events: list[AuditEvent]
) -> None:
    """Score a gold answer and pause the reviewer for the queue once the evidence says they are below its bar.
    The gold case itself is never decided."""
    expected = people.gold_label(conn, task.case_id)
    events.append(
        AuditEvent(
            user.name,
            "gold.answered",
            "task",
            str(task.id),
            {"case_id": task.case_id, "label": label, "expected": expected, "correct": label == expected},
        )
    )
    spec = project.flow(task.flow).queues.get(task.queue)
    if spec is None or spec.gold is None or (task.flow, task.queue) in people.paused_queues(conn, user.id):
        return
    answered, correct = people.gold_record(conn, user.id, task.flow, task.queue)
    reason = gold.pause_reason(spec.gold, answered, correct)
    if reason is None:
        return
    pause_id = people.pause(conn, user.id, task.flow, task.queue, reason, now)
    events.append(
        AuditEvent(
            "gold",
            "reviewer.paused",
            "user",
            str(user.id),
            {
                "reviewer": user.name,
                "flow": task.flow,
                "queue": task.queue,
                "reason": reason,
                "answered": answered,
                "correct": correct,
                "pause_id": pause_id,
            },
        )
    )


def _settle(
    db: Database,
    conn: Connection,
    project: Project,
    task: Task,
    user: User,
    review_id: int,
    label: str,
    now: datetime,
    events: list[AuditEvent],
) -> ReviewResult:
    """Decide the case when its answers are in: a lone review or an adjudication decides; consensus reviews
    decide once all are in and agree, and a disagreement goes to adjudication."""
    case_id = task.case_id
    flow = project.flow(task.flow)
    consensus = flow.queues[task.queue].consensus if task.queue in flow.queues else None
    if task.kind is TaskKind.ADJUDICATION:
        return _decide(db, conn, user, task, review_id, label, DecidedBy.ADJUDICATION, now, events)
    if consensus is None or consensus.reviews == 1:
        return _decide(db, conn, user, task, review_id, label, DecidedBy.REVIEWER, now, events)
    case_store.lock(conn, case_id)  # the last of concurrent submits must see all the others
    answers = case_store.consensus_answers(conn, case_id)
    if any(a is None for a in answers):
        return ReviewResult(review_id, case_id, None, None, replayed=False)
    counts = Counter(a for a in answers if a is not None)
    top, votes = counts.most_common(1)[0]
    agreed = votes == len(answers) if consensus.agreement == "unanimous" else votes * 2 > len(answers)
    if agreed:
        return _decide(db, conn, user, task, review_id, top, DecidedBy.CONSENSUS, now, events)
    assert consensus.adjudicate_in is not None
    lifecycle.open_adjudication(
        conn, flow, case_id, consensus.adjudicate_in, task.priority, dict(counts), user.name, now, events
    )
    return ReviewResult(review_id, case_id, None, None, replayed=False)


def _decide(
    db: Database,
    conn: Connection,
    user: User,
    task: Task,
    review_id: int,
    label: str,
    by: DecidedBy,
    now: datetime,
    events: list[AuditEvent],
) -> ReviewResult:
    decision = lifecycle.Decision(task.case_id, label, by, now, task.id, task.queue, review_id)
    lifecycle.decide(db, conn, decision, user.name, events)
    return ReviewResult(review_id, decision.case_id, label, by, replayed=False)


@dataclass(frozen=True)
class ExternalReview:
    """A review given outside Signoff, in a labelling tool, on one of its tasks: where the review stands in what
    was read (a refusal names it), the task, the label and a comment."""

    location: str
    task_id: TaskId
    label: str
    comment: str = ""


def record_external(
    db: Database, project: Project, reviewer: str, flow: str, answers: Sequence[ExternalReview], source: str
) -> list[ReviewResult]:
    """Record reviews given in ``source`` (a labelling tool) as ``reviewer``'s, all or nothing, in one transaction.

    Each task is claimed for the reviewer on the terms of any claim (their role on the flow, skills, pauses, the
    four eyes, no second answer on a case; ``task.claimed`` says where the review came from) and submitted on that
    lease as ``submit`` records a review (``review.submitted``, and the case's decision). A refused item (an unknown
    task, a label not of the flow, a task already completed or held by someone else, a task the reviewer may not
    take) is named by its location, and then nothing is recorded: the file is fixed and read again whole, with no
    half-imported file to reconcile."""
    with db.transaction() as conn:
        user = user_store.user_by_name(conn, reviewer)
        if reviewer in user_store.inactive_names(conn):
            raise InvalidInput([Problem("reviewer", f"{reviewer!r} is deactivated")], "no review recorded")
        if not users.may(user, "review", flow):
            allowed = tuple(sorted(users.PERMISSIONS["review"]))
            raise Forbidden(", ".join(sorted(r.value for r in user.roles(flow))) or "none", allowed)
        me = people.profile(db, conn, user.id)
        scope = _scope(project, user)
        blocked = _blocked(scope, me)
        problems: list[Problem] = []
        results: list[ReviewResult] = []
        seen: set[TaskId] = set()
        refused = 0
        for answer in answers:
            at = f"{answer.location}."
            found = _answer_problems(project, flow, answer.label, answer.comment, at)
            if answer.task_id in seen:
                found.append(Problem(f"{at}task", f"task {answer.task_id} is answered twice in this file"))
            seen.add(answer.task_id)
            if found:
                problems += found
                refused += 1
                continue
            claimed = _claim_row(db, conn, user, scope, blocked, flow, None, answer.task_id)
            if claimed is None:
                problems.append(Problem(f"{at}task", _not_claimable(conn, flow, answer.task_id, user)))
                refused += 1
                continue
            data = {
                "case_id": claimed.case_id,
                "token": claimed.token,
                "expires_at": claimed.expires_at.isoformat(),
                "source": source,
            }
            record(db, conn, [AuditEvent(user.name, "task.claimed", "task", str(claimed.task_id), data)])
            task = task_store.complete(db, conn, claimed.task_id, claimed.token, user.id)
            assert task is not None, "a lease taken in this transaction is live"
            results.append(_answered(db, conn, project, user, task, claimed.token, answer.label, answer.comment))
        if problems:
            raise InvalidInput(problems, f"no review recorded: {refused} of {len(answers)} refused")
    return results


def _not_claimable(conn: Connection, flow: str, task_id: TaskId, user: User) -> str:
    """Why ``user`` could not claim task ``task_id`` of ``flow``, as exactly as the store can say."""
    task = task_store.get(conn, task_id)
    if task is None or task.flow != flow:
        return f"flow {flow!r} has no task {task_id}"
    if task.status is TaskStatus.DONE:
        decision = case_store.decision_of(conn, task.case_id)
        decided = f"; case {task.case_id} is decided: {decision}" if decision is not None else ""
        return f"task {task_id} is already completed{decided}"
    if task.status is TaskStatus.LEASED and task.lease_owner != user.id:
        return f"task {task_id} is held by another reviewer"
    if task.role not in task_roles(user, flow):
        return f"task {task_id} needs the role {task.role!r}, which {user.name} does not hold on {flow!r}"
    why = case_store.four_eyes(conn, task.case_id, user.id, user.name)
    if why is not None:
        return f"task {task_id}: {why}"
    return (
        f"{user.name} may not take task {task_id} now (its queue {task.queue!r} needs skills they lack, they are "
        "paused there, passed on it, are conflicted on its case or it is assigned to someone else)"
    )
