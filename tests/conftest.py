"""Database fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from $SIGNOFF_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). Each test
gets a fresh database cloned from a migrated template. Without PostgreSQL the PostgreSQL tests are skipped,
except under CI=true, where the run stops with a message instead: CI must never pass without them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from signoff.store import migrate
from signoff.store.database import Database

# One OpenMP thread for scikit-learn's gradient boosting, in tests and the processes they start (set before any
# test module loads scikit-learn): on a busy machine its spinning threads made a small fit 60 times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

POSTGRES_URL = os.environ.get("SIGNOFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEMPLATE = f"signoff_template_{os.getpid()}"


def _admin() -> psycopg.Connection:
    url = make_url(POSTGRES_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=5,
    )


def _postgres_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _postgres_problem() -> str | None:
    try:
        with _admin():
            return None
    except psycopg.Error as error:
        return str(error).strip()


def pytest_sessionstart(session: pytest.Session) -> None:
    problem = _postgres_problem()
    session.config.stash[_PG_PROBLEM] = problem
    if problem and os.environ.get("CI") == "true":
        pytest.exit(
            f"PostgreSQL is required under CI=true but {POSTGRES_URL} cannot be reached: {problem}\n"
            "Start PostgreSQL or point SIGNOFF_TEST_POSTGRES_URL at one.",
            returncode=3,
        )


_PG_PROBLEM = pytest.StashKey[str | None]()


@pytest.fixture(scope="session")
def postgres_template(request: pytest.FixtureRequest) -> Iterator[str]:
    problem = request.config.stash[_PG_PROBLEM]
    if problem:
        pytest.skip(f"PostgreSQL not available: {problem}")
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    db = Database(_postgres_url(TEMPLATE))
    migrate.upgrade(db)
    db.dispose()
    yield TEMPLATE
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "signoff.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


@contextmanager
def _fresh_postgres(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database (a clone of ``template`` if given), dropped afterwards whatever connections remain."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield _postgres_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    with _fresh_postgres("signoff_test", postgres_template) as url:
        yield url


@pytest.fixture
def postgres_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """The name of a database that does not exist yet on the test server, for commands that create it themselves
    (as a reader of docs/how-to/use-postgresql.md does); dropped afterwards, whatever connections remain."""
    problem = request.config.stash[_PG_PROBLEM]
    if problem:
        pytest.skip(f"PostgreSQL not available: {problem}")
    name = f"signoff_docs_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "signoff.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database of each kind."""
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Parametrise indirectly with "sqlite" or "postgresql": a database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    problem = request.config.stash[_PG_PROBLEM]
    if problem:
        pytest.skip(f"PostgreSQL not available: {problem}")
    with _fresh_postgres("signoff_empty") as url:
        yield url
