"""The review workspace: its page, and the JSON its page script calls to claim, answer, skip, renew and give back
tasks. Every action is the review service's, as in the API (``/api/v1/tasks/...``), with the same answers: the
page script's requests add only the rendered next task (``next``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from signoff import review
from signoff.domain import Id, LeaseToken, TaskId, User
from signoff.errors import InvalidInput, Problem
from signoff.review import Claim
from signoff.review.service import MAX_COMMENT, MAX_REASON
from signoff.text import Name, Text
from signoff.web.dependencies import Reviewer, Site, Web, page_user
from signoff.web.views import mark, timed

router = APIRouter()


class WorkOn(BaseModel):
    """The queue a reviewer chose to work on (both None: every queue open to them)."""

    flow: Name | None = Field(default=None, max_length=63)
    queue: Name | None = Field(default=None, max_length=63)


class LeaseIn(BaseModel):
    token: LeaseToken


class SubmitIn(WorkOn):
    token: LeaseToken
    label: Name = Field(max_length=100)
    comment: Text = Field(default="", max_length=MAX_COMMENT)
    next: bool = True


class SkipIn(WorkOn):
    token: LeaseToken
    reason: Text = Field(max_length=MAX_REASON)
    next: bool = True


def check_work(site: Site, user: User, work: WorkOn) -> None:
    """Refuse a chosen queue this user may not work, before anything is written."""
    if (work.flow, work.queue) != (None, None) and (work.flow, work.queue) not in review.workable_queues(
        site.project, user
    ):
        raise InvalidInput([Problem("queue", f"{work.flow}/{work.queue} is not a queue you may work on")])


def next_payload(site: Site, user: User, marks: dict[str, float], work: WorkOn) -> dict[str, object]:
    """Claim the next task for ``user`` in the queue they chose (checked by ``check_work`` before anything was
    written), or in any, and render it (or the empty queue)."""
    with mark(marks, "claim"):
        claim = review.claim(site.db, site.project, user, flow=work.flow, queue=work.queue)
    with mark(marks, "render"):
        return task_payload(site, user, claim)


def task_payload(site: Site, user: User, claim: Claim | None) -> dict[str, object]:
    if claim is None:
        return {"task": None, "html": site.views.fragment("_empty.html")}
    view = site.workspace.view(user, claim)
    return {
        "task": {**view["task"], "labels": [label["name"] for label in view["labels"]]},
        "html": site.views.fragment("_task.html", **view),
    }


def answer_then_next(
    site: Site, user: User, work: SubmitIn | SkipIn, action: str, act: Callable[[], dict[str, object]]
) -> Response:
    """Do ``act`` on a task of the chosen queue (timed as ``action``), then claim and render the next task if the
    page asked for it: one round trip per answer."""

    def run(marks: dict[str, float]) -> dict[str, object]:
        check_work(site, user, work)
        with mark(marks, action):
            answer = act()
        return {**answer, "next": next_payload(site, user, marks, work) if work.next else None}

    return timed(run)


@router.get("/review")
def review_page(request: Request, site: Web, queue: str = "") -> Response:
    user, csrf = page_user(site, request, "review")
    choices = [f"{flow}/{name}" for flow, name in review.workable_queues(site.project, user)]
    return site.views.render(
        request,
        "review.html",
        user=user,
        csrf=csrf,
        title="Review",
        undo_seconds=site.undo_seconds,
        max_leases=site.project.workload.max_leases,
        choices=choices,
        chosen=queue if queue in choices else "",
        unknown=queue if queue and queue not in choices else "",
    )


@router.post("/review/next")
def claim_next(site: Web, user: Reviewer, body: WorkOn | None = None) -> Response:
    work = body or WorkOn()

    def run(marks: dict[str, float]) -> dict[str, object]:
        check_work(site, user, work)
        return next_payload(site, user, marks, work)

    return timed(run)


@router.post("/review/tasks/{task_id}/submit")
def submit(task_id: Id, body: SubmitIn, site: Web, user: Reviewer) -> Response:
    def act() -> dict[str, object]:
        result = review.submit(site.db, site.project, user, TaskId(task_id), body.token, body.label, body.comment)
        return {"review_id": result.review_id, "decision": asdict(result)}

    return answer_then_next(site, user, body, "submit", act)


@router.post("/review/tasks/{task_id}/skip")
def skip(task_id: Id, body: SkipIn, site: Web, user: Reviewer) -> Response:
    def act() -> dict[str, object]:
        review.skip(site.db, user, TaskId(task_id), body.token, body.reason)
        return {"skipped": task_id}

    return answer_then_next(site, user, body, "skip", act)


@router.post("/review/tasks/{task_id}/heartbeat")
def heartbeat(task_id: Id, body: LeaseIn, site: Web, user: Reviewer) -> Response:
    def run(_: dict[str, float]) -> dict[str, object]:
        expires_at = review.heartbeat(site.db, user, TaskId(task_id), body.token)
        return {"lease": {"token": body.token, "expires_at": expires_at}}

    return timed(run)


@router.get("/review/held")
def held(site: Web, user: Reviewer) -> Response:
    """The reviewer's live leases, rendered with a way to resume or release each: what a closed or crashed page
    (or another tab) left behind."""

    def run(_: dict[str, float]) -> dict[str, object]:
        found = [{**asdict(h), "kind": review.shown_kind(h.kind)} for h in review.held(site.db, user)]
        return {
            "tasks": [{"id": h["task_id"], "token": h["token"]} for h in found],
            "html": site.views.fragment("_held.html", held=found, limit=site.project.workload.max_leases),
        }

    return timed(run)


@router.post("/review/tasks/{task_id}/resume")
def resume(task_id: Id, body: LeaseIn, site: Web, user: Reviewer) -> Response:
    """Take up, on this page, a lease held from elsewhere: the task rendered, as ``/review/next`` renders one."""

    def run(marks: dict[str, float]) -> dict[str, object]:
        with mark(marks, "resume"):
            claim = review.resume(site.db, user, TaskId(task_id), body.token)
        with mark(marks, "render"):
            return task_payload(site, user, claim)

    return timed(run)


@router.post("/review/tasks/{task_id}/release")
def release(task_id: Id, body: LeaseIn, site: Web, user: Reviewer) -> Response:
    def run(_: dict[str, float]) -> dict[str, object]:
        review.release(site.db, user, TaskId(task_id), body.token)
        return {"released": task_id}

    return timed(run)
