"""The FastAPI application: REST under /api/v1, health probes, OpenAPI at /docs, and the web UI."""

from __future__ import annotations

import gc
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParameter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from signoff import __version__, audit, intake, review, users, web
from signoff.api import docs, errors
from signoff.api.coalesce import Coalescer
from signoff.api.limits import BodyLimit
from signoff.api.schemas import (
    AssignedOut,
    AssignIn,
    BatchIn,
    CanaryIn,
    CaseIn,
    CaseOut,
    ChallengerOut,
    ClaimedTaskOut,
    ClaimIn,
    ClaimOut,
    ConflictIn,
    ConflictOut,
    DecidedOut,
    DecisionPageOut,
    DeliveriesOut,
    DeliveryOut,
    ErrorOut,
    EvidenceOut,
    FlowOut,
    FlowsOut,
    GoldAddedOut,
    GoldIn,
    HealthOut,
    HeartbeatOut,
    HeldLeaseOut,
    HeldTaskOut,
    HeldTasksOut,
    LabelCheckOut,
    LabelConflictOut,
    LabelConflictsOut,
    LeaseIn,
    MetricsOut,
    ModelVersionDetailOut,
    ModelVersionOut,
    ModelVersionsOut,
    OutcomeBatchOut,
    OutcomeOneOut,
    OutcomeOut,
    PauseLiftedOut,
    PromotedOut,
    PromoteIn,
    QueuesOut,
    ReadyOut,
    ReleasedOut,
    ResolveIn,
    ReviewersOut,
    ReviewIn,
    RollbackIn,
    RolledBackOut,
    RunningOut,
    ShadowIn,
    SkillsIn,
    SkillsOut,
    SkipIn,
    SkippedOut,
    SubmittedBatchOut,
    SubmittedOneOut,
    SubmittedOut,
    SubmittedReviewOut,
    TaskPageOut,
)
from signoff.audit import webhooks
from signoff.config import Flow, Project, environment, load_project
from signoff.database import Database, open_database, require_current
from signoff.domain import MAX_ID, Id, TaskId, User
from signoff.errors import InvalidInput, NotFound, Problem, problems_of
from signoff.learning import canary, labels, outcomes, promotion
from signoff.learning import registry as model_registry
from signoff.metrics import alerts
from signoff.metrics import service as metrics_service
from signoff.observe import prometheus, tracing
from signoff.periodic import Periodic
from signoff.review import leads
from signoff.review.escalation import escalate
from signoff.text import Name

DEFAULT_MAX_BODY = 10 * 1024 * 1024
DEFAULT_MAX_BATCH = 10_000
FULL_SEAL_EVERY = 240  # sealer runs (0.25 s apart) between looks over the whole audit trail: one a minute


@dataclass
class Context:
    """What every request needs, built once when the app starts."""

    project: Project
    db: Database
    runtimes: dict[str, intake.FlowRuntime]
    max_batch: int
    coalescer: Coalescer  # single-case submissions, recorded together when they arrive together


async def context(request: Request) -> Context:  # async: no worker thread for what never waits
    ctx: Context = request.app.state.signoff
    return ctx


Ctx = Annotated[Context, Depends(context)]


async def current_user(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> User:
    """The caller: from the tokens verified this last second without a worker thread, else from the database."""
    scheme, _, token = (authorization or "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else None
    known = users.verified(ctx.db, bearer)
    return known if known is not None else await run_in_threadpool(users.authenticate, ctx.db, bearer)


Caller = Annotated[User, Depends(current_user)]


def _allowed(action: users.Action) -> Any:
    """A dependency that lets through only roles allowed to do ``action``, before the body is even read."""

    async def check(user: Caller) -> User:  # async: no worker thread for what never waits
        users.require(user, action)
        return user

    return Depends(check)


Reader = Annotated[User, _allowed("read_cases")]
Reviewer = Annotated[User, _allowed("review")]
TaskLister = Annotated[User, _allowed("list_tasks")]
FlowReader = Annotated[User, _allowed("read_flows")]
Lead = Annotated[User, _allowed("assign")]
Auditor = Annotated[User, _allowed("audit")]
VersionName = Annotated[Name, PathParameter(min_length=1, max_length=100, description="A model version's name.")]
# A page of a list: items after the cursor (the last one read, or the page's ``next_after``), at most ``limit``.
After = Annotated[int, Query(ge=0, le=MAX_ID, description="the id (a decision's `seq`) or `next_after` last read")]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _flow(ctx: Context, user: User, action: users.Action, flow: str) -> intake.FlowRuntime:
    """A flow the caller may do ``action`` on; one they may not is as unknown as one that does not exist."""
    runtime = ctx.runtimes.get(flow)
    if runtime is None or not users.may(user, action, flow):
        raise NotFound("flow", flow)
    return runtime


@dataclass(frozen=True)
class OnFlow:
    """A request on the flow its path names (``/api/v1/flows/{flow}/...``): the app's context, the caller, and the
    flow's runtime, which the caller may act on."""

    ctx: Context
    user: User
    runtime: intake.FlowRuntime

    @property
    def db(self) -> Database:
        return self.ctx.db

    @property
    def project(self) -> Project:
        return self.ctx.project

    @property
    def flow(self) -> Flow:
        return self.runtime.flow


def _on_flow(action: users.Action) -> Any:
    """A dependency that lets through only roles allowed to do ``action`` (before the body is even read), then only
    on a flow the caller holds that role on: the one statement of a flow endpoint's permission."""

    allowed = _allowed(action)  # a default, not an annotation: annotations here are strings read in module scope

    async def resolve(flow: Name, ctx: Ctx, user: User = allowed) -> OnFlow:
        return OnFlow(ctx, user, _flow(ctx, user, action, flow))

    return Depends(resolve)


ERROR_MEANING = {
    401: "No valid API token.",
    403: "The caller's role may not do this.",
    404: "Something named in the request does not exist.",
    409: "The request conflicts with what is recorded (a stale lease, a reused external id, a closed task).",
    413: "The request body is too large.",
    422: "The request is not valid; `problems` says where and why. Nothing was written.",
    429: "A workload limit stops this reviewer for now; see Retry-After.",
    502: "The flow's model could not be called.",
    503: "The database is unavailable or busy.",
}


def errors_of(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an /api/v1 route: every error status it can answer, besides those of every
    such route (401, 403, 503), each with the one error body."""
    return {
        status: {"model": ErrorOut, "description": ERROR_MEANING[status]}
        for status in sorted({401, 403, 503, *statuses})
    }


READ = errors_of(404, 422)  # a read that names something
WRITE = errors_of(404, 409, 413, 422)  # a change with a body


def one_or_batch(one: Any, batch: Any, item: str, errors: dict[int | str, dict[str, Any]]) -> dict[str, Any]:
    """The route arguments of a POST that records one item or a batch of them, idempotently: 201 when it records
    any, 200 when every item was recorded before (a replay)."""
    return {
        "status_code": 201,
        "response_model": one | batch,
        "responses": {200: {"model": one | batch, "description": f"Every {item} was recorded before."}, **errors},
    }


LEASED = errors_of(404, 409, 413, 422, 429)  # a reviewer's claim and what is done under its lease
AUDIT_MEDIA = {  # what GET /api/v1/audit/events streams, by its ``format``
    "application/x-ndjson": {"schema": {"type": "string", "description": "One sealed event, as JSON, a line."}},
    "text/csv": {"schema": {"type": "string", "description": "A header row, then one sealed event a row."}},
}


def _json(payload: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(payload), status_code=status_code)


def _is_batch(body: Any) -> bool:
    return isinstance(body, dict) and "cases" in body


def _valid_cases(runtime: intake.FlowRuntime, body: Any, max_batch: int) -> list[intake.CaseInput]:
    """One case, or ``{"cases": [...]}``, parsed and checked against the flow: all valid, or ``InvalidInput``."""
    batch = _is_batch(body)
    try:
        if batch:
            if isinstance(body["cases"], list) and len(body["cases"]) > max_batch:
                raise InvalidInput([Problem("cases", f"a batch holds at most {max_batch} cases")])
            items = BatchIn.model_validate(body).cases
        else:
            items = [CaseIn.model_validate(body)]
    except ValidationError as error:
        refused = "invalid batch" if batch else "invalid case"
        raise InvalidInput(problems_of(error.errors(include_url=False)), refused) from None
    entries = [
        intake.Entry(f"cases[{index}]" if batch else "case", item.external_id, item.fields)
        for index, item in enumerate(items)
    ]
    return intake.validate_batch(runtime.flow, [entries], "invalid cases; nothing was written").cases


def _submit_batch(ctx: Context, runtime: intake.FlowRuntime, body: Any, user: User) -> list[SubmittedOut]:
    valid = _valid_cases(runtime, body, ctx.max_batch)
    return [SubmittedOut.model_validate(r) for r in intake.submit(ctx.db, runtime, valid, user.name)]


def _parse_outcomes(body: Any, max_batch: int) -> tuple[list[outcomes.OutcomeIn], bool]:
    """One outcome, or ``{"outcomes": [...]}``; each item is checked by the outcomes service, which locates every
    problem (``outcomes[3].label``)."""
    if isinstance(body, dict) and "outcomes" in body:
        items = body["outcomes"]
        if not isinstance(items, list) or not items or len(items) > max_batch or set(body) != {"outcomes"}:
            raise InvalidInput([Problem("outcomes", f"must be a list of 1 to {max_batch} outcomes, alone in the body")])
        return [outcomes.OutcomeIn.of(f"outcomes[{i}]", item) for i, item in enumerate(items)], True
    return [outcomes.OutcomeIn.of("outcome", body)], False


def _conflict_out(found: labels.LabelConflict, user: User) -> LabelConflictOut:
    """A conflict as the caller may see it: the reviewers' names only to those who oversee the flow."""
    shown = found if users.may(user, "oversee", found.flow) else labels.anonymous(found)
    return LabelConflictOut.model_validate({**vars(shown), "resolved": shown.resolved})


def create_app(project: Project | None = None) -> FastAPI:
    """Build the app for ``project`` (default: the file named by $SIGNOFF_PROJECT or ./signoff.yaml)."""
    project = project or load_project()
    tracing.configure_logging()
    tracing.configure()
    db = open_database(project, background_checkpoints=True)
    max_batch = int(environment.number("SIGNOFF_MAX_BATCH", DEFAULT_MAX_BATCH, whole=True))
    ctx = Context(project, db, intake.prepare(db, project), max_batch, Coalescer(db, max_batch))
    audit.seal(db, full=True)
    runs = itertools.count(1)

    def sealer() -> None:
        """Seal what just committed; once a minute, look over the whole trail for events committed out of order."""
        audit.seal(db, full=next(runs) % FULL_SEAL_EVERY == 0)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The audit chain is sealed within about 0.25 s of a commit; due tasks are escalated every 5 s.
        workers = [
            Periodic("audit sealer", sealer, 0.25, final=True),
            Periodic("escalation", lambda: escalate(db, project), 5.0),
            # a canary significantly worse than the champion ends; every process's runtime then follows
            Periodic("canary watch", lambda: canary.watch_all(db, project), 5.0),
            # each flow recalibrated once its calibration is older than its min_refresh, never inside a request
            Periodic("recalibration", lambda: intake.refresh(db, ctx.runtimes), 1.0),
        ]
        if any(flow.alerts.checked for flow in project.flows.values()):  # thresholds from the flow files
            every = min(flow.alerts.every for flow in project.flows.values() if flow.alerts.checked)
            workers.append(Periodic("alerts", lambda: alerts.check(db, project), every))
        if project.webhooks:  # sealed events go out about a second after they commit
            workers.append(Periodic("webhooks", lambda: webhooks.deliver(db, project), 1.0))
        if (checkpoints := db.checkpointer()) is not None:  # SQLite's write-ahead log, off the requests' path
            workers.append(checkpoints)
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()
            db.dispose()

    app = FastAPI(
        title="Signoff",
        version=__version__,
        description="Human-in-the-loop decisions: submit cases, review flagged ones, read decisions.",
        lifespan=lifespan,
        docs_url=None,  # served by api.docs, without a CDN
        redoc_url=None,
    )
    app.state.signoff = ctx
    app.state.metrics_registry = prometheus.registry_for(db, project)
    errors.install(app)
    docs.install(app)
    app.add_middleware(
        BodyLimit, limit=int(environment.number("SIGNOFF_MAX_REQUEST_BYTES", DEFAULT_MAX_BODY, whole=True))
    )
    _routes(app)
    web.mount(app, project, db, ctx.runtimes)
    return app


def served_app() -> FastAPI:
    """The app ``signoff serve`` runs in each server process. What building it made (modules, models, flows) lives
    as long as the process, so it is frozen out of the garbage collector's sweeps, which would otherwise walk all of
    it again and again under load."""
    app = create_app()
    gc.collect()  # garbage first, so that none of it is kept for good
    gc.freeze()
    return app


def _routes(app: FastAPI) -> None:  # one place lists every endpoint
    @app.get("/healthz", tags=["health"])
    def healthz() -> HealthOut:
        return HealthOut(status="ok")

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=ReadyOut,
        response_model_exclude_none=True,
        responses={503: {"model": ReadyOut, "description": "The database is not ready, or the audit sealer stalled."}},
    )
    def readyz(ctx: Ctx) -> Response | ReadyOut:
        try:
            require_current(ctx.db)
        except Exception as error:  # noqa: BLE001  # readiness reports any failure instead of raising it
            return _json({"status": "unavailable", "reason": str(error)}, 503)
        if (stall := audit.stalled(ctx.db)) is not None:  # decisions would go unvouched for
            return _json({"status": "unavailable", "reason": str(stall)}, 503)
        return ReadyOut(status="ready")

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus exposition (unauthenticated, like the health probes: counts only, no case data)."""
        body = prometheus.exposition(request.app.state.metrics_registry)
        return Response(body, media_type=prometheus.CONTENT_TYPE)

    @app.get("/api/v1/flows/{flow}/metrics", tags=["metrics"], responses=READ)
    def flow_metrics(
        on: Annotated[OnFlow, _on_flow("read_metrics")],
        window: Annotated[str, Query(pattern="^(hour|day|week)$")] = "day",
        points: Annotated[int, Query(ge=0, le=90, description="windows in the trend series")] = 12,
    ) -> MetricsOut:
        """The flow's KPIs over the last hour, day or week, with a trend of earlier windows: what the dashboard
        draws. The model's accuracy comes from the random audit sample only, with its 95% interval."""
        found = metrics_service.flow_metrics(on.db, on.project, on.flow.name, window, points=points)
        return MetricsOut.model_validate(metrics_service.as_document(found))

    @app.get(
        "/api/v1/audit/events",
        tags=["audit"],
        response_class=StreamingResponse,
        responses={200: {"description": "The events, one per line or row.", "content": AUDIT_MEDIA}, **errors_of(422)},
    )
    def audit_events(
        ctx: Ctx,
        user: Auditor,
        since: Annotated[str | None, Query(description="first time included, ISO 8601 (UTC if no zone)")] = None,
        until: Annotated[str | None, Query(description="first time excluded, ISO 8601 (UTC if no zone)")] = None,
        format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl",  # the public parameter name
    ) -> StreamingResponse:
        """The sealed audit trail in chain order, each event with its previous and own hash (what ``signoff audit
        export`` writes), streamed page by page. It mixes every flow, so it needs the role on every flow."""
        users.require_everywhere(user, "audit")
        start, end = audit.time_range(since, until)
        media, lines = audit.EXPORTS[format]
        return StreamingResponse(lines(audit.sealed_events(ctx.db, start, end)), media_type=media)

    # FastAPI lists a 422 for any route with parameters (here the Authorization header): in the one error body
    @app.get("/api/v1/flows", tags=["flows"], responses=errors_of(422))
    def list_flows(ctx: Ctx, user: FlowReader) -> FlowsOut:
        return FlowsOut(
            flows=[
                FlowOut(
                    name=name,
                    description=rt.flow.description,
                    labels=rt.flow.labels,
                    fields={n: s.model_dump(mode="json", exclude_none=True) for n, s in rt.flow.fields.items()},
                    groups=rt.flow.groups,
                    model_version=rt.model.version,
                    policy_version=rt.policy.version,
                    queues=list(rt.flow.queues),
                )
                for name, rt in ctx.runtimes.items()
                if users.may(user, "read_flows", name)
            ]
        )

    @app.post(
        "/api/v1/flows/{flow}/cases",
        tags=["cases"],
        **one_or_batch(SubmittedOneOut, SubmittedBatchOut, "case", errors_of(404, 409, 413, 422, 502)),
    )
    async def submit_cases(
        on: Annotated[OnFlow, _on_flow("submit_cases")],
        body: Annotated[Any, Body(description="One case, or {'cases': [...]} for a batch.")],
        response: Response,
    ) -> SubmittedOneOut | SubmittedBatchOut:
        """Submit one case or a batch. A batch with any invalid case is refused whole; nothing is written. Single
        cases that arrive together are recorded together, each answered with its own result or error."""
        ctx, runtime = on.ctx, on.runtime
        if batch := _is_batch(body):  # all or nothing, and checked off the event loop: it may be large
            results = await run_in_threadpool(_submit_batch, ctx, runtime, body, on.user)
        else:
            case = _valid_cases(runtime, body, ctx.max_batch)[0]
            results = [SubmittedOut.model_validate(await ctx.coalescer.submit(runtime, case, on.user.name))]
        response.status_code = 201 if any(r.created for r in results) else 200
        return SubmittedBatchOut(cases=results) if batch else SubmittedOneOut(case=results[0])

    @app.get("/api/v1/cases/{case_id}", tags=["cases"], responses=READ)
    def get_case(case_id: Id, ctx: Ctx, user: Reader) -> CaseOut:
        """The whole record: fields, prediction, route, tasks with leases, reviews and the decision, as far as the
        caller may see it (reviewers see their own answers only, and a gold task as a review)."""
        return CaseOut.model_validate(review.case_record(ctx.db, user, case_id))

    @app.get("/api/v1/flows/{flow}/decisions", tags=["cases"], responses=READ)
    def flow_decisions(
        on: Annotated[OnFlow, _on_flow("read_cases")],
        after: After = 0,
        limit: Limit = 100,
    ) -> DecisionPageOut:
        """The flow's decisions, the model's at intake and every later one, in the order the audit trail sealed
        them (within about a second of their commit): a cursor never misses one that commits late."""
        found, next_after = review.decisions_since(on.db, on.flow.name, after, limit)
        return DecisionPageOut.model_validate({"decisions": found, "next_after": next_after})

    @app.get("/api/v1/tasks", tags=["review"], responses=errors_of(422))
    def list_tasks(
        ctx: Ctx,
        user: TaskLister,
        flow: Name | None = None,
        queue: Name | None = None,
        status: Name | None = None,
        after: After = 0,
        limit: Limit = 100,
    ) -> TaskPageOut:
        """Tasks by id; pass the returned ``next_after`` as ``after`` for the next page."""
        shown, next_after = review.task_page(ctx.db, user, flow, queue, status, after, limit)
        return TaskPageOut.model_validate({"tasks": shown, "next_after": next_after})

    @app.get("/api/v1/queues", tags=["review"], responses=errors_of(422))
    def queues(
        ctx: Ctx,
        user: TaskLister,
        flow: Name | None = None,
        risk_window: Annotated[float, Query(gt=0, le=7 * 86_400, description="seconds")] = 900.0,
    ) -> QueuesOut:
        """Per queue: open and leased tasks, the oldest, tasks at SLA risk and overdue, completions in the last
        hour; per reviewer: leases held and reviews in the last hour."""
        return QueuesOut.model_validate(review.queues_for(ctx.db, user, flow, risk_window))

    @app.post(
        "/api/v1/tasks/claim",
        tags=["review"],
        response_model=ClaimOut,
        responses={204: {"description": "No task is waiting; no body."}, **LEASED},
    )
    def claim(ctx: Ctx, user: Reviewer, body: ClaimIn | None = None) -> Response | ClaimOut:
        """Lease the most urgent task you may take. Keep the token: every later call needs it."""
        wanted = body or ClaimIn()
        if wanted.flow is not None:
            _flow(ctx, user, "review", wanted.flow)
        got = review.claim(ctx.db, ctx.project, user, flow=wanted.flow, queue=wanted.queue)
        if got is None:
            return Response(status_code=204)
        return ClaimOut(
            task=ClaimedTaskOut(id=got.task_id, flow=got.flow, queue=got.queue, kind=review.shown_kind(got.kind)),
            lease=HeldLeaseOut(token=got.token, expires_at=got.expires_at),
            labels=ctx.project.flow(got.flow).labels,
            case=CaseOut.model_validate(review.claimed_case(ctx.db, user, got)),
        )

    @app.get("/api/v1/tasks/held", tags=["review"], responses=errors_of(422))
    def held_tasks(ctx: Ctx, user: Reviewer) -> HeldTasksOut:
        """Your live leases, wherever you claimed them (a client that crashed leaves its tasks leased until they
        expire): go on with each by its token, or release it."""
        return HeldTasksOut(
            tasks=[
                HeldTaskOut(
                    task=ClaimedTaskOut(id=h.task_id, flow=h.flow, queue=h.queue, kind=review.shown_kind(h.kind)),
                    case_id=h.case_id,
                    lease=HeldLeaseOut(token=h.token, expires_at=h.expires_at),
                )
                for h in review.held(ctx.db, user)
            ]
        )

    @app.post("/api/v1/tasks/{task_id}/heartbeat", tags=["review"], responses=LEASED)
    def heartbeat(task_id: Id, body: LeaseIn, ctx: Ctx, user: Reviewer) -> HeartbeatOut:
        expires = review.heartbeat(ctx.db, user, TaskId(task_id), body.token)
        return HeartbeatOut(lease=HeldLeaseOut(token=body.token, expires_at=expires))

    @app.post("/api/v1/tasks/{task_id}/submit", tags=["review"], responses=LEASED)
    def submit_review(task_id: Id, body: ReviewIn, ctx: Ctx, user: Reviewer) -> SubmittedReviewOut:
        """Record your review; it becomes the case's decision. Refused (409) if your lease is not live."""
        result = review.submit(ctx.db, ctx.project, user, TaskId(task_id), body.token, body.label, body.comment)
        return SubmittedReviewOut(review_id=result.review_id, decision=DecidedOut.model_validate(result))

    @app.post("/api/v1/tasks/{task_id}/skip", tags=["review"], responses=LEASED)
    def skip(task_id: Id, body: SkipIn, ctx: Ctx, user: Reviewer) -> SkippedOut:
        """Pass the task on, or mark it unsure, with a reason: it returns one priority higher, not to you."""
        review.skip(ctx.db, user, TaskId(task_id), body.token, body.reason, body.unsure)
        return SkippedOut(skipped=task_id)

    @app.post("/api/v1/tasks/{task_id}/release", tags=["review"], responses=LEASED)
    def release(task_id: Id, body: LeaseIn, ctx: Ctx, user: Reviewer) -> ReleasedOut:
        review.release(ctx.db, user, TaskId(task_id), body.token)
        return ReleasedOut(released=task_id)

    @app.get("/api/v1/reviewers", tags=["leads"], responses=errors_of(422))
    def reviewers(ctx: Ctx, user: TaskLister, flow: Name | None = None) -> ReviewersOut:
        """Per reviewer: load, gold accuracy with its 95% interval, open pauses; the leads' view of the floor."""
        return ReviewersOut.model_validate(review.reviewers_for(ctx.db, user, flow))

    @app.post("/api/v1/tasks/{task_id}/assign", tags=["leads"], responses=WRITE)
    def assign(task_id: Id, body: AssignIn, ctx: Ctx, user: Lead) -> AssignedOut:
        """Reserve an open task for one reviewer (only they may claim it), or free it with ``null``."""
        leads.assign(ctx.db, ctx.project, user, task_id, body.reviewer)
        return AssignedOut(task_id=task_id, assignee=body.reviewer)

    @app.put("/api/v1/users/{name}/skills", tags=["leads"], responses=WRITE)
    def set_skills(name: Name, body: SkillsIn, ctx: Ctx, user: Lead) -> SkillsOut:
        return SkillsOut(name=name, skills=leads.set_skills(ctx.db, user, name, body.skills))

    @app.post("/api/v1/users/{name}/conflicts", tags=["leads"], status_code=201, responses=WRITE)
    def mark_conflict(name: Name, body: ConflictIn, ctx: Ctx, user: Lead) -> ConflictOut:
        """Never offer this case to the reviewer (four eyes: conflicts of interest)."""
        leads.mark_conflict(ctx.db, user, name, body.case_id, body.reason)
        return ConflictOut(name=name, case_id=body.case_id)

    @app.delete("/api/v1/users/{name}/pauses/{flow}/{queue}", tags=["leads"], responses=READ)
    def lift_pause(name: Name, flow: Name, queue: Name, ctx: Ctx, user: Lead) -> PauseLiftedOut:
        """Let a reviewer whom gold tasks paused work the queue again."""
        leads.lift_pause(ctx.db, user, name, flow, queue)
        return PauseLiftedOut(name=name, flow=flow, queue=queue, paused=False)

    @app.get("/api/v1/webhooks/deliveries", tags=["webhooks"], responses=errors_of(422))
    def webhook_deliveries(
        ctx: Ctx,
        user: Lead,
        webhook: Name | None = None,
        status: webhooks.Status | None = None,
        limit: Limit = 50,
    ) -> DeliveriesOut:
        """The webhook delivery log, latest events first: each message's attempts, last error and status (dead:
        a dead letter). Webhooks carry every flow's events, so it needs the role on every flow."""
        users.require_everywhere(user, "assign")
        found = webhooks.deliveries(ctx.db, webhook, status, limit)
        return DeliveriesOut(deliveries=[DeliveryOut.model_validate(d) for d in found])

    @app.post("/api/v1/webhooks/deliveries/{delivery_id}/replay", tags=["webhooks"], responses=errors_of(404, 409, 422))
    def replay_delivery(
        delivery_id: Annotated[str, PathParameter(pattern=r"^msg_[0-9a-f]{32}$")], ctx: Ctx, user: Lead
    ) -> DeliveryOut:
        """Send a delivery again (a dead letter, or one delivered before) with the same webhook-id and a fresh
        count of attempts, before the webhook's later deliveries; audited. 409 while it is still pending."""
        users.require_everywhere(user, "assign")
        return DeliveryOut.model_validate(webhooks.replay(ctx.db, ctx.project, user.name, delivery_id))

    @app.get("/api/v1/flows/{flow}/models", tags=["models"], responses=READ)
    def list_models(on: Annotated[OnFlow, _on_flow("read_metrics")]) -> ModelVersionsOut:
        """The flow's model versions, newest first: status, training set, held-out metrics and who changed what."""
        found = model_registry.versions(on.db, on.flow)
        return ModelVersionsOut(versions=[ModelVersionOut.model_validate(v) for v in found])

    @app.get("/api/v1/flows/{flow}/models/{version}", tags=["models"], responses=READ)
    def show_model(on: Annotated[OnFlow, _on_flow("read_metrics")], version: VersionName) -> ModelVersionDetailOut:
        """One model version with its lineage: the training set, its window, and each case it learned from with
        the label and the label's source."""
        found = model_registry.version(on.db, on.flow, version)
        lineage = None if found.lineage is None else {**vars(found.lineage), "sources": found.lineage.sources}
        return ModelVersionDetailOut.model_validate({**vars(found), "lineage": lineage})

    @app.get("/api/v1/flows/{flow}/models/{version}/evidence", tags=["models"], responses=errors_of(404, 409, 422, 502))
    def model_evidence(on: Annotated[OnFlow, _on_flow("read_metrics")], version: VersionName) -> EvidenceOut:
        """The version weighed against the champion: both models on the held-out human-verified cases (judged)
        and on the random audit sample (reported), the certified rules recalibrated on the version's own scores,
        and the promotion gate's decision with every condition's numbers. Changes nothing."""
        found = promotion.weigh(on.db, on.project, on.flow, version)
        return EvidenceOut.model_validate(found.summary())

    @app.post(
        "/api/v1/flows/{flow}/models/{version}/promote", tags=["models"], responses=errors_of(404, 409, 413, 422, 502)
    )
    def promote_model(
        on: Annotated[OnFlow, _on_flow("manage_models")], version: VersionName, body: PromoteIn
    ) -> PromotedOut:
        """Make a version the champion if the promotion gate passes, audited with the evidence; the previous
        champion is retired and the open review cases are re-scored by the new one. A refusal is a 409 naming
        each failed condition with its numbers (in ``problems``), with nothing changed but the audit trail;
        ``override: true`` promotes anyway, audited as an override. Servers switch within seconds."""
        done = promotion.promote(
            on.db, on.project, on.flow, version, actor=on.user.name, reason=body.reason, override=body.override
        )
        gate = None if done.weighing is None else EvidenceOut.model_validate(done.weighing.summary())
        return PromotedOut(
            version=ModelVersionOut.model_validate(done.version),
            rescored=done.rescored,
            overridden=done.overridden,
            gate=gate,
        )

    @app.post("/api/v1/flows/{flow}/models/rollback", tags=["models"], responses=errors_of(404, 409, 413, 422, 502))
    def rollback_model(on: Annotated[OnFlow, _on_flow("manage_models")], body: RollbackIn) -> RolledBackOut:
        """End the flow's shadow or canary when it is the version named (or none is named): it is a candidate
        again. Else serve the champion the current one replaced again (or the version named), with no gate: it
        served before; the open review cases are re-scored. Audited with the reason."""
        done = canary.rollback(on.db, on.project, on.flow, body.version, actor=on.user.name, reason=body.reason)
        return RolledBackOut(
            previous=ModelVersionOut.model_validate(done.previous),
            version=ModelVersionOut.model_validate(done.version),
            rescored=done.rescored,
        )

    @app.post(
        "/api/v1/flows/{flow}/models/{version}/shadow", tags=["models"], responses=errors_of(404, 409, 413, 422, 502)
    )
    def shadow_model(
        on: Annotated[OnFlow, _on_flow("manage_models")], version: VersionName, body: ShadowIn
    ) -> ModelVersionOut:
        """Put a version in shadow: it scores every new case beside the champion, with no effect on routes or
        decisions. Audited; servers follow within seconds."""
        found = canary.shadow(on.db, on.project, on.flow, version, actor=on.user.name, reason=body.reason)
        return ModelVersionOut.model_validate(found)

    @app.post(
        "/api/v1/flows/{flow}/models/{version}/canary", tags=["models"], responses=errors_of(404, 409, 413, 422, 502)
    )
    def canary_model(
        on: Annotated[OnFlow, _on_flow("manage_models")], version: VersionName, body: CanaryIn
    ) -> ModelVersionOut:
        """Make a version the canary: it routes a sticky share of the cases, its certified rules calibrated on its
        own scores (refused, 409, when they cannot certify), and ends by itself when its error on the labelled
        cases of its share is significantly worse than the champion's. Audited; servers follow within seconds."""
        found = canary.canary(
            on.db,
            on.project,
            on.flow,
            version,
            actor=on.user.name,
            reason=body.reason,
            share=body.share,
            sticky_by=body.sticky_by,
        )
        return ModelVersionOut.model_validate(found)

    @app.get("/api/v1/flows/{flow}/challenger", tags=["models"], responses=READ)
    def challenger_evidence(on: Annotated[OnFlow, _on_flow("read_metrics")]) -> ChallengerOut:
        """The flow's shadow or canary weighed against the champion on the labelled cases it has so far: both
        versions' errors, the paired test and whether a canary is worse (the server then rolls it back)."""
        found = canary.running(on.db, on.flow)
        return ChallengerOut(running=None if found is None else RunningOut.model_validate(found.summary()))

    @app.post(
        "/api/v1/flows/{flow}/gold", tags=["leads"], status_code=201, responses=errors_of(404, 409, 413, 422, 502)
    )
    def add_gold(on: Annotated[OnFlow, _on_flow("assign")], body: GoldIn) -> GoldAddedOut:
        """Add gold cases (known answers) that gold-enabled queues mix into reviewers' work. All or nothing."""
        entries = [
            intake.Entry(f"cases[{index}]", None, item.fields, label=item.label)
            for index, item in enumerate(body.cases)
        ]
        gold = intake.validate_batch(on.flow, [entries], "invalid gold cases; nothing was written", label="label")
        added = intake.add_gold(on.db, on.runtime, gold.cases, gold.labels, on.user.name)
        return GoldAddedOut(added=added)

    @app.post(
        "/api/v1/flows/{flow}/outcomes",
        tags=["learning"],
        **one_or_batch(OutcomeOneOut, OutcomeBatchOut, "outcome", WRITE),
    )
    def record_outcomes(
        on: Annotated[OnFlow, _on_flow("record_outcomes")],
        body: Annotated[
            Any,
            Body(
                description="One outcome, or {'outcomes': [...]} for a batch: case_id or external_id, label, and "
                "optionally source (default 'default') and observed_at (ISO 8601)."
            ),
        ],
        response: Response,
    ) -> OutcomeOneOut | OutcomeBatchOut:
        """Record the ground truth that arrived after the decision. Idempotent by case and source: the same label
        again is a replay (200), another label a conflict (409). A batch with any problem is refused whole."""
        items, batch = _parse_outcomes(body, on.ctx.max_batch)
        results = [OutcomeOut.model_validate(o) for o in outcomes.record(on.db, on.flow, items, on.user.name)]
        response.status_code = 201 if any(o.created for o in results) else 200
        return OutcomeBatchOut(outcomes=results) if batch else OutcomeOneOut(outcome=results[0])

    @app.post("/api/v1/flows/{flow}/labels/check", tags=["learning"], responses=READ)
    def check_labels(on: Annotated[OnFlow, _on_flow("resolve_labels")]) -> LabelCheckOut:
        """Find the flow's label conflicts of every kind and record the new ones (re-checking duplicates none)."""
        report = labels.check(on.db, on.flow, on.user.name)
        return LabelCheckOut(
            found=report.found,
            new=[_conflict_out(c, on.user) for c in report.new],
            reopened=[_conflict_out(c, on.user) for c in report.reopened],
            updated=[_conflict_out(c, on.user) for c in report.updated],
            open=[_conflict_out(c, on.user) for c in report.open],
        )

    @app.get("/api/v1/flows/{flow}/labels/conflicts", tags=["learning"], responses=READ)
    def label_conflicts(
        on: Annotated[OnFlow, _on_flow("resolve_labels")],
        status: Annotated[str, Query(pattern="^(open|resolved|all)$")] = "open",
    ) -> LabelConflictsOut:
        """The flow's recorded label conflicts, oldest first (``POST .../labels/check`` finds new ones)."""
        found = labels.conflicts(on.db, [on.flow.name], status=status)
        return LabelConflictsOut(conflicts=[_conflict_out(c, on.user) for c in found])

    @app.post("/api/v1/flows/{flow}/labels/conflicts/{conflict_id}/resolve", tags=["learning"], responses=WRITE)
    def resolve_label_conflict(
        on: Annotated[OnFlow, _on_flow("resolve_labels")], conflict_id: Id, body: ResolveIn
    ) -> LabelConflictOut:
        """Say which label wins and why; until then the case is never trained on."""
        resolved = labels.resolve(on.db, on.flow, conflict_id, body.label, body.reason, on.user.name)
        return _conflict_out(resolved, on.user)
