"""Every documented command works as typed: each page below is followed from its first command to its last in a fresh
folder (see ``helpers.documented``), and what it shows under a command must still be what the command prints."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import make_url

from helpers.documented import Page, run_page
from helpers.processes import environment, signoff

pytestmark = pytest.mark.slow  # runs signoff processes and servers

ROOT = Path(__file__).resolve().parents[2]
# Commands the pages show that are run elsewhere, each with where.
RUN_ELSEWHERE = {
    "make demo": "tests/acceptance/test_demo.py runs `signoff demo`, which is all `make demo` does after install",
    "make test": "CI runs it from a fresh clone (.ci/run)",
    "make test-fast": "the same tests as `make test`, less those marked slow",
    "promtool check rules deploy/prometheus/alerts.yml": "tests/integration/test_prometheus.py, in the repository",
    "signoff users unpause alice credit-approval underwriting": "a pause needs twenty failed gold answers first; "
    "tests/integration/test_review_rules.py pauses a reviewer and lifts the pause",
}
SKIP = frozenset(RUN_ELSEWHERE)
POSTGRES_URL = os.environ.get("SIGNOFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
INGESTED = "signoff ingest credit-approval credit-cases.csv"  # the cases of `signoff init`, as the tutorial ingests
PASSWORD = "correct horse battery staple"
PROJECT = "myproject"  # pages that start in a project as `signoff init myproject` and `signoff db upgrade` leave it
PAGES = [
    Page(ROOT / "README.md", skip=SKIP),
    Page(ROOT / "docs/tutorial/first-decisions.md", skip=SKIP),
    Page(ROOT / "docs/how-to/ingest-files.md", start=PROJECT, skip=SKIP),
    Page(ROOT / "docs/how-to/write-routing-policies.md", start=PROJECT, skip=SKIP),
    Page(ROOT / "docs/how-to/monitor-with-prometheus.md", start=PROJECT, skip=SKIP),
    Page(  # on the test server, which must be the page's (127.0.0.1:5432, user postgres), in a scratch database
        ROOT / "docs/how-to/use-postgresql.md",
        start=PROJECT,
        replace={"signoff_pg": "{postgres}"},
        skip=SKIP,
    ),
    Page(ROOT / "docs/how-to/review-in-label-studio.md", start=PROJECT, skip=SKIP),
    Page(ROOT / "docs/how-to/plan-reviewer-capacity.md", start=PROJECT, skip=SKIP),
    Page(ROOT / "docs/how-to/publish-audit-checkpoints.md", start=PROJECT, skip=SKIP),
    Page(ROOT / "docs/how-to/write-a-flow-file.md", start=PROJECT, skip=SKIP),
    Page(  # its people, cases and gold file: the page names them but leaves making them to the reader
        ROOT / "docs/how-to/run-the-review-floor.md",
        start=PROJECT,
        given=(
            "signoff users add lena --role lead",
            "signoff users add alice --role reviewer",
            INGESTED,
            "head -31 credit-labelled.csv > gold.csv",
        ),
        skip=SKIP,
    ),
    Page(ROOT / "docs/explanation/routing.md", start=PROJECT, given=(INGESTED,), skip=SKIP),
    Page(
        ROOT / "docs/how-to/review-in-the-browser.md",
        start=PROJECT,
        given=("signoff users add alice --role reviewer",),
        typed={"signoff users password alice": f"{PASSWORD}\n{PASSWORD}\n"},
        skip=SKIP,
    ),
]

# Pages with commands that this test does not follow yet, and why; a new page with commands goes in one list or
# the other.
NOT_FOLLOWED = {
    "docs/how-to/close-the-loop.md": "followed by test_close_the_loop_doc.py and test_close_the_loop.py",
    "docs/how-to/scale-out.md": "its commands are run by test_scale_out.py and test_deploy_files.py",
    "docs/reference/cli.md": "a reference: each command's examples come from a project of their own (a broker, a "
    "retrained test-flow, a demo, weeks of labels), none made on the page; each command's own test in "
    "tests/acceptance checks what it shows",
    "docs/reference/http-api.md": "a reference of every endpoint: its curl lines need tokens, a dead webhook delivery "
    "and a day of metrics the page does not make, and elide their JSON with `...`; the HTTP acceptance tests check it",
    "docs/how-to/use-the-python-client.md": "test_client.py serves the project of its first block and runs its Python",
    "docs/how-to/consume-from-a-broker.md": "followed by test_consume_doc.py, with the broker it needs",
    "docs/how-to/use-a-remote-model.md": "it needs a prediction service; test_remote_model.py runs one and its worker",
    "docs/how-to/receive-webhooks.md": "its secrets and delivery ids are placeholders; test_webhooks.py runs its code",
    "docs/explanation/audit-trail.md": "its blocks are separate histories (intact, altered with psql, an event "
    "deleted, sealing stalled, a chain rewritten after a checkpoint) that the page describes but does not make; "
    "test_audit_cli.py, test_audit_stall.py and test_audit_checkpoints_cli.py make and check each",
    "docs/explanation/promotion-gate.md": "its promotion passes the gate, which needs 200 held-out labels and a real "
    "gain: retrained on the outcomes `signoff init` writes, credit-approval-2 has 26 and is refused; "
    "test_models_promotion.py and test_models.py run evaluate and promote through the gate",
}


def test_every_page_with_commands_is_followed_or_says_why_not() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    with_commands = {
        str(path.relative_to(ROOT)) for path in pages if re.search(r"```(console|sh)\n", path.read_text("utf-8"))
    }
    followed = {str(page.path.relative_to(ROOT)) for page in PAGES}
    assert sorted(with_commands - followed - set(NOT_FOLLOWED)) == []
    assert sorted((followed | set(NOT_FOLLOWED)) - with_commands) == []


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`signoff init myproject` and `signoff db upgrade` in it, made once and copied for each page."""
    folder = tmp_path_factory.mktemp("initialised") / PROJECT
    env = environment()
    assert signoff("init", str(folder), env=env).returncode == 0
    upgraded = signoff("db", "upgrade", env=env, cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr
    return folder


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.path.relative_to(ROOT)))
def test_every_command_of_the_page_works_as_typed(
    page: Page, project: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if any("{postgres}" in value for value in page.replace.values()):
        if make_url(POSTGRES_URL).set(database="x") != make_url("postgresql://postgres@127.0.0.1:5432/x"):
            pytest.skip(f"the page's commands name the server at 127.0.0.1:5432, not {POSTGRES_URL}")
        name = request.getfixturevalue("postgres_name")
        page = dataclasses.replace(page, replace={k: v.format(postgres=name) for k, v in page.replace.items()})
    if page.start == PROJECT:
        shutil.copytree(project, tmp_path / PROJECT)
    assert run_page(page, tmp_path, environment()) > 0
