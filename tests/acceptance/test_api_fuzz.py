"""Schemathesis drives the API from its own OpenAPI schema, in process, on both databases, as every role: no
generated request, valid or not, may get a server error, a status the schema does not list for it, or a body
(and media type) other than the one the schema documents for that status.

``SIGNOFF_FUZZ_REQUESTS`` sets the budget per database; some operations run out of distinct inputs before their
share, so a run sends about 80% of it: in CI 2,700 (over 2,000 requests on each database), under ``make fuzz-api``
12,500 (about 20,000 in all).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from helpers.api import Api
from helpers.builders import case, make_project
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # thousands of generated requests per database

BUDGET = int(os.environ.get("SIGNOFF_FUZZ_REQUESTS", "2700"))
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# every answer: no server error, a documented status, the documented media type, a body the schema describes
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _seed(api: Api) -> None:
    """Something for generated ids to hit: cases, open tasks, a live lease, a skilled reviewer."""
    api.post("/api/v1/flows/test-flow/cases", json={"cases": [case(0.5) for _ in range(5)] + [case(0.1)]})
    assert api.post("/api/v1/tasks/claim", Role.REVIEWER).status_code == 200


@pytest.mark.slow
def test_generated_requests_get_no_server_error_and_only_documented_statuses(db: Database, tmp_path: Path) -> None:
    app = create_app(make_project(tmp_path, db.url))
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, db)
        _seed(api)
        schema = schemathesis.openapi.from_dict(app.openapi())
        operations = [result.ok() for result in schema.get_all_operations()]
        examples = max(1, BUDGET // (len(operations) * len(MODES)))
        roles = st.sampled_from([None, *Role])

        for operation in operations:
            for mode in MODES:

                @given(generated=operation.as_strategy(generation_mode=mode), role=roles)
                @settings(
                    max_examples=examples,
                    database=None,
                    deadline=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
                    suppress_health_check=list(HealthCheck),
                )
                def call(generated: Any, role: Role | None) -> None:
                    headers = {**(generated.headers or {}), **(api.as_(role) if role else {})}
                    sent = generated.as_transport_kwargs(base_url="http://testserver", headers=headers)
                    response = client.request(
                        sent["method"],
                        sent["url"],
                        params=sent.get("params"),
                        headers=sent.get("headers"),
                        json=sent.get("json"),
                        content=sent.get("data"),
                    )
                    statuses[response.status_code] += 1
                    try:
                        generated.validate_response(response, checks=CHECKS, headers=headers)
                    except (AssertionError, FailureGroup) as error:  # one failure, or several
                        failures.append(
                            f"{generated.operation.label} as {role}: {response.status_code}: {str(error)[:300]}"
                        )

                with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
                    call()
    seconds = time.perf_counter() - started
    total = sum(statuses.values())
    print(
        f"\n{total} requests over {len(operations)} operations in {seconds:.0f} s; statuses {sorted(statuses.items())}"
    )
    assert total >= BUDGET * 0.75, statuses  # the operations that run out of inputs early
    assert failures == [], "\n".join(failures[:20])
