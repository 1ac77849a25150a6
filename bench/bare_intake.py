"""The bare peer of ``POST /api/v1/flows/{flow}/cases`` for bench/http_load.py: a FastAPI endpoint that parses the
same body with Signoff's own body models (one case, or ``{"cases": [...]}``) and answers a fixed result per case
through Signoff's response models. No token, no check of the fields against a flow, no model, no database: what
any FastAPI service pays before doing its own work.

Served by ``bench/http_load.py`` with uvicorn and ``signoff serve``'s options (``python -m uvicorn bare_intake:app``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, Response

from signoff.api.schemas import BatchIn, CaseIn, SubmittedBatchOut, SubmittedOneOut, SubmittedOut

REASON = "no rule fired; the model decides 'approve' with confidence 0.984"

app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/flows/{flow}/cases")
def submit_cases(flow: str, body: Annotated[Any, Body()], response: Response) -> SubmittedOneOut | SubmittedBatchOut:
    """Parse one case or a batch, answer 201 with one fixed result per case."""
    batch = isinstance(body, dict) and "cases" in body
    items = BatchIn.model_validate(body).cases if batch else [CaseIn.model_validate(body)]
    results = [
        SubmittedOut(
            case_id=i + 1,
            external_id=item.external_id,
            created=True,
            status="decided",
            verdict="auto",
            rule=None,
            reason=REASON,
            queue=None,
            decision="approve",
            decided_by="model",
        )
        for i, item in enumerate(items)
    ]
    response.status_code = 201
    return SubmittedBatchOut(cases=results) if batch else SubmittedOneOut(case=results[0])
