"""Connections and transactions for SQLite (the embedded default) and PostgreSQL (the scale store)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Row, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from signoff.errors import SignoffError
from signoff.store.schema import UtcDateTime

Dialect = Literal["sqlite", "postgresql"]


class DatabaseUnavailable(SignoffError):
    """The database cannot be reached."""


@cache
def named_queries(dialect: Dialect) -> dict[str, str]:
    """Load the ``-- name: x`` blocks of ``sql/<dialect>.sql``. A ``-- fragment: y`` block is text that queries
    share, put in place of their ``-- include: y`` lines (one copy of a claim's filters for both claims)."""
    source = resources.files("signoff.store").joinpath("sql").joinpath(f"{dialect}.sql").read_text(encoding="utf-8")
    blocks = re.split(r"^-- (name|fragment): ", source, flags=re.MULTILINE)[1:]
    fragments: dict[str, str] = {}
    queries: dict[str, str] = {}
    for kind, block in zip(blocks[::2], blocks[1::2], strict=True):
        name, _, body = block.partition("\n")
        lines = []
        for line in body.splitlines():
            included = re.fullmatch(r"\s*-- include: (\S+)\s*", line)
            if included is not None:
                lines.append(fragments[included.group(1)])
            elif not line.lstrip().startswith("--"):
                lines.append(line)
        sql = "\n".join(lines).strip().rstrip(";")
        (fragments if kind == "fragment" else queries)[name.strip()] = sql
    return queries


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever the URL says."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """An engine plus the dialect's named queries. Writers get ``BEGIN IMMEDIATE`` on SQLite."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = normalise_url(url)
        backend = make_url(self.url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise SignoffError(f"unsupported database {backend!r}: use a sqlite:/// or postgresql:// URL")
        self.dialect: Dialect = "sqlite" if backend == "sqlite" else "postgresql"
        self.queries = named_queries(self.dialect)
        self._texts = {name: text(sql) for name, sql in self.queries.items()}  # parsed once, not per call
        if self.dialect == "sqlite":
            self.engine = create_engine(
                self.url,
                connect_args={"timeout": 60, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=120,
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=120
            )

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(signoff_write=write)
                with conn.begin():
                    yield conn
        except OperationalError as error:
            if _is_unreachable(error):
                raise DatabaseUnavailable(f"cannot reach the database at {self.safe_url}: {error.orig}") from error
            raise

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection (for migrations), with the same translation of an unreachable database."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as error:
            if _is_unreachable(error):
                raise DatabaseUnavailable(f"cannot reach the database at {self.safe_url}: {error.orig}") from error
            raise

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def run(self, conn: Connection, name: str, **params: Any) -> list[Row[Any]]:
        """Run a named query and return its rows."""
        return list(conn.execute(self._texts[name], params))

    def now(self, conn: Connection) -> datetime:
        """The database clock: leases and their expiry are judged by it alone."""
        return as_utc(self.run(conn, "db_now")[0].now)

    def dispose(self) -> None:
        self.engine.dispose()


def as_utc(value: object) -> datetime:
    """A timestamp from a named query (text on SQLite) as an aware UTC datetime."""
    result = UtcDateTime().process_result_value(value, _SQLITE_DIALECT)
    assert result is not None
    return result


_SQLITE_DIALECT = create_engine("sqlite://").dialect


def _is_unreachable(error: OperationalError) -> bool:
    message = str(error.orig).lower()
    return any(s in message for s in ("connection refused", "could not connect", "unable to open", "does not exist"))


def _synchronous() -> str:
    """NORMAL by default; SIGNOFF_SQLITE_SYNCHRONOUS=FULL trades write speed for surviving a power loss."""
    value = os.environ.get("SIGNOFF_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if value not in ("NORMAL", "FULL"):
        raise SignoffError(f"SIGNOFF_SQLITE_SYNCHRONOUS must be NORMAL or FULL, got {value!r}")
    return value


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process; a power loss may drop the last commits (FULL would not).
        cursor.execute(f"PRAGMA synchronous={_synchronous()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("signoff_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
