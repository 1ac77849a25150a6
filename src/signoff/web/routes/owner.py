"""The model owner's pages: every flow with its model, policy and versions, and each flow's metrics dashboard
with its charts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from signoff import users
from signoff.domain import User
from signoff.errors import Conflict, InvalidInput, NotFound
from signoff.learning import canary, promotion, registry
from signoff.metrics.versions import flow_versions
from signoff.web.dashboard import SVG_HEADERS, end_or_error, window_or_error
from signoff.web.dependencies import Halt, Site, Web, page_user

router = APIRouter()


def owner_flow(site: Site, request: Request, flow: str, window: str) -> tuple[User, str]:
    """The owner page's user, once the flow exists and the window is one of hour, day or week."""
    user, csrf = page_user(site, request, "read_metrics")
    if flow not in site.runtimes or not users.may(user, "read_metrics", flow):
        message = f"This server runs no flow named {flow!r}."
        raise Halt(site.views.error_page(request, user, csrf, 404, "No such flow", message))
    try:
        window_or_error(window)
    except InvalidInput as error:
        raise Halt(site.views.error_page(request, user, csrf, 422, "Not a window", error.message)) from None
    return user, csrf


@router.get("/owner")
def owner(request: Request, site: Web) -> Response:
    user, csrf = page_user(site, request, "read_metrics")
    flows = [
        {
            "name": name,
            "description": runtime.flow.description,
            "labels": runtime.flow.labels,
            "model_version": runtime.model.version,
            "model_kind": runtime.model.kind,
            "policy_version": runtime.policy.version,
            "rules": [(rule.name, rule.kind) for rule in runtime.flow.policy],
            "queues": [(queue, spec.role, spec.lease_ttl, spec.sla) for queue, spec in runtime.flow.queues.items()],
            "audit_rate": runtime.flow.audit.rate,
            "versions": flow_versions(site.db, name, runtime.model.version, runtime.policy.version),
            "registry": {v.version: v for v in registry.versions(site.db, runtime.flow)},
            "trained_on": registry.trained_on(site.db, runtime.flow),
            "decisions": promotion.decisions(site.db, runtime.flow),
            "challenger": canary.running(site.db, runtime.flow),
        }
        for name, runtime in site.runtimes.items()
        if users.may(user, "read_metrics", name)
    ]
    return site.views.render(request, "owner.html", user=user, csrf=csrf, title="Flows and models", flows=flows)


@router.get("/owner/flows/{flow}")
def owner_dashboard(request: Request, site: Web, flow: str, window: str = "day") -> Response:
    user, csrf = owner_flow(site, request, flow, window)
    values = site.dashboard.page(flow, window)
    return site.views.render(
        request, "dashboard.html", user=user, csrf=csrf, title=f"Metrics of {flow}", window=window, **values
    )


@router.get("/owner/flows/{flow}/charts/{name}.svg")
def owner_chart(
    request: Request, site: Web, flow: str, name: str, window: str = "day", end: str | None = None
) -> Response:
    owner_flow(site, request, flow, window)
    try:
        svg = site.dashboard.chart(flow, window, end_or_error(end), name)
    except InvalidInput as error:
        return Response(error.message, 422, media_type="text/plain", headers=SVG_HEADERS)
    if svg is None:
        missing = f"no chart named {name[:40]!r} for these metrics"
        return Response(missing, 404, media_type="text/plain", headers=SVG_HEADERS)
    return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)


@router.get("/owner/flows/{flow}/models/{version}/evidence")
def owner_evidence(request: Request, site: Web, flow: str, version: str) -> Response:
    """A candidate weighed against the champion, and the gate's decision (computed now; nothing changes)."""
    user, csrf = owner_flow(site, request, flow, "day")
    try:
        found = promotion.weigh(site.db, site.project, site.runtimes[flow].flow, version)
    except NotFound as error:
        raise Halt(site.views.error_page(request, user, csrf, 404, "No such model version", error.message)) from None
    except Conflict as error:
        raise Halt(site.views.error_page(request, user, csrf, 409, "Nothing to weigh", error.message)) from None
    title = f"Evidence for {version}"
    return site.views.render(request, "evidence.html", user=user, csrf=csrf, title=title, flow=flow, w=found)
