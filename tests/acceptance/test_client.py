"""``signoff.Client`` and ``signoff.AsyncClient`` drive the API's main paths against ``signoff serve`` running as a
process, on SQLite and on PostgreSQL: a batch of the example project's applications goes in, the automatic
decisions come back, a flagged case is claimed and reviewed through the client, its decision is seen by waiting and
by reading the flow's decisions since a cursor, an outcome is recorded, and the API's errors arrive as their
exceptions. The how-to page's Python runs here too, as it is typed."""

from __future__ import annotations

import asyncio
import csv
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import signoff
from helpers.processes import ServerProcess, environment
from helpers.processes import signoff as run
from signoff.client import (
    AsyncClient,
    Client,
    Conflict,
    DecisionTimeout,
    Forbidden,
    InvalidInput,
    NotFound,
    Retry,
    Unauthenticated,
    Unreachable,
)

pytestmark = pytest.mark.slow  # trains the example model and serves it in a process

FLOW = "credit-approval"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "use-the-python-client.md"
NUMBERS = {"age": int, "late_payments": int, "income": float, "debt_to_income": float}
NUMBERS |= {"credit_history_years": float, "loan_amount": float}


@dataclass
class Served:
    url: str
    intake: str  # tokens
    reviewer: str
    folder: Path


def _token(project: Path, env: dict[str, str], name: str, role: str) -> str:
    done = run("users", "add", name, "--role", role, "-p", str(project), env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def serving(folder: Path, database_url: str | None) -> Iterator[Served]:
    """The example project of ``signoff init`` served by ``signoff serve``, with an intake and a reviewer token."""
    env = environment(database_url)
    assert run("init", str(folder), env=env).returncode == 0
    project = folder / "signoff.yaml"
    assert run("db", "upgrade", "-p", str(project), env=env).returncode == 0
    intake, reviewer = _token(project, env, "svc", "intake"), _token(project, env, "ann", "reviewer")
    server = ServerProcess(project, env, folder / "serve.log")
    server.start()
    try:
        yield Served(server.url, intake, reviewer, folder)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """On SQLite, shared by the tests of this module (each uses its own external ids)."""
    with serving(tmp_path_factory.mktemp("sqlite") / "project", None) as found:
        yield found


@pytest.fixture(params=["sqlite", "postgresql"])
def served_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The shared SQLite server, or one of its own on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield request.getfixturevalue("served")
        return
    with serving(tmp_path / "project", request.getfixturevalue("postgres_url")) as found:
        yield found


def applications(folder: Path) -> list[dict[str, Any]]:
    """The example's applications as the API takes them: numbers as numbers, an empty optional field left out."""
    with (folder / "credit-cases.csv").open(encoding="utf-8") as rows:
        return [
            {
                "external_id": row.pop("external_id"),
                "fields": {k: NUMBERS[k](v) if k in NUMBERS else v for k, v in row.items() if v != ""},
            }
            for row in csv.DictReader(rows)
        ]


def _caught_up(client: Client, after: int, ours: set[int], count: int, timeout: float = 30) -> list[Any]:
    """The flow's decisions after ``after`` of the cases ``ours``, once there are ``count`` (a decision is read
    once sealed, within about a second)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in client.decisions(FLOW, after=after, limit=100) if d.case_id in ours]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_the_client_drives_intake_review_decisions_and_outcomes(served_on: Served) -> None:
    served = served_on
    cases = applications(served.folder)
    with signoff.Client(served.url, served.intake) as client:
        start = max((d.seq for d in client.decisions(FLOW)), default=0)
        results = client.submit(FLOW, iter(cases), batch_size=180)  # three requests, the last shorter
        assert [r.external_id for r in results] == [c["external_id"] for c in cases]
        assert all(r.created for r in results)
        auto = [r for r in results if r.decision is not None]
        flagged = [r for r in results if r.verdict == "review"]
        assert auto and flagged, "the example routes some of its applications to review"
        assert all(r.decided_by == "model" for r in auto)

        again = client.submit(FLOW, cases[:5])  # a batch sent again is recorded once
        assert [(r.case_id, r.created) for r in again] == [(r.case_id, False) for r in results[:5]]

        decided = client.wait(auto[0].case_id, timeout=10)
        assert (decided.label, decided.decided_by) == (auto[0].decision, "model")
        with pytest.raises(DecisionTimeout, match=f"case {flagged[0].case_id} was not decided within 0.3 s"):
            client.wait(flagged[0].case_id, timeout=0.3)

        # every automatic decision, in the order the audit trail sealed them; the cursor is the last one's seq
        ours = {r.case_id for r in results}
        made = _caught_up(client, start, ours, len(auto))
        assert sorted(d.case_id for d in made) == sorted(r.case_id for r in auto)
        assert [d.seq for d in made] == sorted({d.seq for d in made})
        assert {d.external_id for d in made} == {r.external_id for r in auto}
        cursor = made[-1].seq
        assert [d for d in client.decisions(FLOW, after=cursor) if d.case_id in ours] == []

        with signoff.Client(served.url, served.reviewer) as reviewer:
            first = reviewer.claim(FLOW)
            assert first is not None and first.task.flow == FLOW and set(first.labels) == {"approve", "decline"}
            assert [h.task.id for h in reviewer.held()] == [first.task.id]
            reviewer.release(first.task.id, first.lease.token)
            assert reviewer.held() == []
            with pytest.raises(Conflict, match="is refused"):
                reviewer.submit_review(first.task.id, first.lease.token, "decline")
            claimed = reviewer.claim(FLOW)
            assert claimed is not None
            reviewer.heartbeat(claimed.task.id, claimed.lease.token)
            answer = reviewer.submit_review(claimed.task.id, claimed.lease.token, "decline", "income does not cover it")
            assert (answer.decision.label, answer.decision.decided_by) == ("decline", "reviewer")
            with pytest.raises(Forbidden):
                reviewer.submit(FLOW, cases[:1])

        case_id = claimed.case.id
        decided = client.wait(case_id, timeout=10)
        assert (decided.label, decided.decided_by, decided.review_id) == ("decline", "reviewer", answer.review_id)
        (since,) = _caught_up(client, cursor, ours, 1)
        assert (since.case_id, since.label, since.decided_by, since.review_id) == (
            case_id,
            "decline",
            "reviewer",
            answer.review_id,
        )
        assert since.seq > cursor

        recorded = client.record_outcome(FLOW, "approve", external_id=auto[0].external_id, source="bureau")
        assert (recorded.case_id, recorded.label, recorded.created) == (auto[0].case_id, "approve", True)
        replayed = client.record_outcomes(FLOW, [{"case_id": auto[0].case_id, "label": "approve", "source": "bureau"}])
        assert [o.created for o in replayed] == [False]
        with pytest.raises(Conflict, match="already"):
            client.record_outcome(FLOW, "decline", case_id=auto[0].case_id, source="bureau")


def test_the_api_s_errors_arrive_as_their_exceptions(served: Served) -> None:
    case = applications(served.folder)[0]
    with Client(served.url, "not-a-token") as stranger, pytest.raises(Unauthenticated) as refused:
        stranger.flows()
    assert (refused.value.status, refused.value.code) == (401, "unauthenticated")
    with Client(served.url, served.intake) as client:
        with pytest.raises(NotFound, match="flow 'no-such-flow' does not exist") as missing:
            client.submit("no-such-flow", [case])
        assert missing.value.status == 404
        bad = {"external_id": "bad-1", "fields": {**case["fields"], "age": 7}}
        with pytest.raises(InvalidInput) as invalid:
            client.submit(FLOW, [case | {"external_id": "good-1"}, bad])
        assert invalid.value.status == 422
        assert [p.location for p in invalid.value.problems] == ["cases[1].fields.age"]
        with pytest.raises(InvalidInput, match="good-1"):  # nothing of the refused batch was written
            client.record_outcome(FLOW, "approve", external_id="good-1")
        client.submit(FLOW, [case])
        with pytest.raises(Conflict, match="different payload"):
            client.submit(FLOW, [{**case, "fields": {**case["fields"], "age": 30}}])
    quick = Retry(attempts=1, backoff=0.01)
    nowhere = Client("http://127.0.0.1:9", served.intake, retry=quick)
    with nowhere, pytest.raises(Unreachable, match="GET /api/v1/flows: ConnectError"):
        nowhere.flows()


def test_the_async_client_does_the_same_over_asyncio(served: Served) -> None:
    cases = [{**case, "external_id": f"async-{case['external_id']}"} for case in applications(served.folder)[:40]]

    async def main() -> tuple[int, int, bool, int]:
        async with AsyncClient(served.url, served.intake) as client:
            flows = await client.flows()
            results = await client.submit(FLOW, cases, batch_size=15)
            auto = next(r for r in results if r.decision is not None)
            decided = await client.wait(auto.case_id, timeout=10)
            seen = [d.case_id async for d in client.decisions(FLOW, limit=7)]
            try:
                await client.case(10**9)
            except NotFound:
                missing = True
            return len(flows.flows), len(results), decided.label == auto.decision and missing, len(seen)

    # a loop of its own in a thread of its own: in the whole suite Playwright keeps one running in this thread
    with ThreadPoolExecutor(1) as pool:
        flows, submitted, agreed, seen = pool.submit(asyncio.run, main()).result()
    assert (flows, submitted, agreed) == (1, 40, True)
    assert seen >= 1


def test_importing_the_client_imports_no_server() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import signoff; signoff.Client"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"signoff.client.sync", "signoff.api.schemas", "httpx"} <= modules
    heavy = {"fastapi", "starlette", "sqlalchemy", "numpy", "pandas", "sklearn", "signoff.store", "signoff.api.app"}
    assert not modules & heavy


def test_the_how_to_runs_as_typed(served: Served) -> None:
    """Every ``python`` block of the page, in order, in one interpreter, with the tokens the page says to set."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    env = environment() | {"SIGNOFF_URL": served.url, "SIGNOFF_TOKEN": served.intake}
    env |= {"SIGNOFF_REVIEWER_TOKEN": served.reviewer}
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        env=env,
        cwd=served.folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout
    assert re.search(r"^100 cases: \d+ decided by the model, \d+ sent to review$", printed, re.M), printed
    assert re.search(r"^caught up at \d+$", printed, re.M), printed
    for line in ("decline reviewer", "recorded", "cases[0].fields.age - ", "404 not_found", "10 submitted again"):
        assert line in printed, (line, printed)
