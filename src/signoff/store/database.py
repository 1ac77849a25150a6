"""Connections and transactions for SQLite (the embedded default) and PostgreSQL (the scale store)."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from signoff.clock import Clock
from signoff.errors import DatabaseUnavailable as DatabaseUnavailable  # raised here, kept with the error root
from signoff.errors import SignoffError
from signoff.periodic import Periodic
from signoff.store.schema import as_utc as as_utc  # named queries' times are read with it

Dialect = Literal["sqlite", "postgresql"]


@cache
def named_queries(dialect: Dialect) -> dict[str, str]:
    """Load the ``-- name: x`` blocks of ``sql/<dialect>.sql``, then of ``sql/common.sql`` (what both databases run
    as written). A ``-- fragment: y`` block is text that queries share, put in place of their ``-- include: y``
    lines (one copy of a claim's filters for both claims; a dialect's fragments serve common.sql's queries too)."""
    folder = resources.files("signoff.store").joinpath("sql")
    blocks = [
        part
        for file in (dialect, "common")
        for part in re.split(
            r"^-- (name|fragment): ", folder.joinpath(f"{file}.sql").read_text(encoding="utf-8"), flags=re.MULTILINE
        )[1:]
    ]
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
        found = fragments if kind == "fragment" else queries
        if name.strip() in found:
            raise ValueError(f"{dialect}: the {kind} {name.strip()!r} is defined twice (common.sql or {dialect}.sql)")
        found[name.strip()] = sql
    return queries


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever the URL says."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _create_private(url: URL) -> None:
    """Create a new SQLite database file readable and writable by its owner alone (0600), whatever the umask: it
    holds password hashes, case data and the audit trail. SQLite gives its -wal and -shm files the database file's
    permissions. An existing file keeps its own; a URI filename is SQLite's to open."""
    path = url.database
    if not path or path == ":memory:" or url.query.get("uri") or path.startswith("file:"):
        return
    with suppress(FileExistsError, FileNotFoundError):  # kept as it is; a missing folder SQLite reports itself
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Database:
    """An engine plus the dialect's named queries. Writers get ``BEGIN IMMEDIATE`` on SQLite.

    ``background_checkpoints`` (SQLite files only; a server sets it): commits leave the write-ahead log to
    ``checkpoint``, which the worker from ``checkpointer`` runs every ``CHECKPOINT_EVERY`` seconds.

    ``clock`` (SQLite only; a simulation sets it): the time every service and named query goes by, in place of the
    database's own clock. Its named queries read it through the SQL function ``signoff_now()``, put where SQLite's
    ``'now'`` stands, so that leases, due times and decisions follow it; without one, nothing changes.
    """

    def __init__(
        self, url: str, *, pool_size: int = 20, background_checkpoints: bool = False, clock: Clock | None = None
    ) -> None:
        self.url = normalise_url(url)
        backend = make_url(self.url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise SignoffError(f"unsupported database {backend!r}: use a sqlite:/// or postgresql:// URL")
        self.dialect: Dialect = "sqlite" if backend == "sqlite" else "postgresql"
        if clock is not None and self.dialect != "sqlite":
            raise SignoffError("a clock of its own is for SQLite databases only: PostgreSQL keeps the time itself")
        self.clock = clock
        self.queries = named_queries(self.dialect)
        self._driver_sql = {
            name: _driver_sql(self.dialect, sql, clocked=clock is not None) for name, sql in self.queries.items()
        }
        self._row_types: dict[str, Any] = {}  # SQLite: each named query's row type (``run``)
        self._background_checkpoints = background_checkpoints and self.dialect == "sqlite" and not self.in_memory
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._writers = threading.Lock()  # see _write_turn
        self._restart_after = 0.0
        if self.dialect == "sqlite":
            _create_private(make_url(self.url))
            self.engine = create_engine(
                self.url,
                connect_args={"timeout": WRITE_WAIT, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=120,
            )
            _configure_sqlite(self.engine, autocheckpoint=not self._background_checkpoints, clock=clock)
        else:
            from psycopg.rows import namedtuple_row  # here: SQLite users never pay for importing psycopg

            self._pg_rows = namedtuple_row
            self.engine = create_engine(self.url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=120)
            _ping_when_idle(self.engine)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._write_turn(write), self.connect() as conn:
            conn = conn.execution_options(signoff_write=write)
            with conn.begin():
                yield conn

    @contextmanager
    def _write_turn(self, write: bool) -> Iterator[None]:
        """On SQLite, this process's writers wait their turn on a lock of its own before SQLite's one write lock.

        SQLite's busy handler has a waiting writer sleep and try again, so under load one can lose the lock for
        seconds while others take it: 8 reviewers claiming and submitting flat out saw claims of 1.6-3.4 s at worst.
        Blocked on a lock of this process, writers are woken as it is released and get it about in turn: 67-125 ms
        at worst, at the same rate (``bench/review_queue.py``). Other processes still meet at SQLite's lock."""
        if not (write and self.dialect == "sqlite"):
            yield
            return
        if not self._writers.acquire(timeout=WRITE_WAIT):
            raise DatabaseUnavailable(
                f"the database at {self.safe_url} is busy: no write could start for {WRITE_WAIT:g} s; try again"
            )
        try:
            yield
        finally:
            self._writers.release()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection (for migrations; ``transaction`` begins one), an unreachable database told as such,
        and so is a connection lost on the way (a server restart): the pool replaces it, the caller may try again."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as error:
            if error.connection_invalidated:
                raise DatabaseUnavailable(
                    f"the database at {self.safe_url} closed the connection ({error.orig}); try again"
                ) from error
            if isinstance(error, OperationalError) and _is_unreachable(error):
                raise DatabaseUnavailable(f"cannot reach the database at {self.safe_url}: {error.orig}") from error
            raise

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database, which only this process's connections can see."""
        return self.dialect == "sqlite" and make_url(self.url).database in (None, "", ":memory:")

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def run(self, conn: Connection, name: str, **params: Any) -> list[Any]:
        """Run a named query in ``conn``'s transaction and return its rows as named tuples.

        Named queries are every claim's and submit's statements, so they go to the driver's cursor directly:
        SQLAlchemy's execution machinery costs several times what SQLite takes to run such a statement (measured
        12.6 against 2.0 µs for one UPDATE). Datetimes are bound as each database stores them."""
        cursor = self._cursor(conn)
        cursor.execute(self._driver_sql[name], self._bind(params))
        if self.dialect == "postgresql":  # psycopg's own named tuples: reading cursor.description costs more
            return cursor.fetchall() if cursor.pgresult is not None and cursor.pgresult.nfields else []
        if cursor.description is None:
            return []
        row: Any = self._row_types.get(name)
        if row is None:  # a named query's columns never change: its row type is made once
            columns = [column[0] for column in cursor.description]
            row = self._row_types[name] = namedtuple("NamedRow", columns, rename=True)
        return [row._make(values) for values in cursor.fetchall()]

    def stream(
        self,
        conn: Connection,
        name: str,
        batch: int,
        json_loads: Callable[[str | bytes], Any] | None = None,
        **params: Any,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Run a named query in ``conn``'s transaction and hand its rows back ``batch`` at a time, as plain tuples:
        one statement that reads a whole table in bounded memory. PostgreSQL sends them from a server-side cursor
        (``json_loads``, if given, reads its JSON columns); SQLite steps its statement as they are fetched."""
        driver: Any = conn.connection.driver_connection
        if self.dialect == "postgresql":
            from psycopg.rows import tuple_row
            from psycopg.types.json import set_json_loads

            cursor = driver.cursor(name=f"signoff_{name}", row_factory=tuple_row)
            if json_loads is not None:
                set_json_loads(json_loads, cursor)
        else:
            cursor = driver.cursor()
        try:
            cursor.execute(self._driver_sql[name], self._bind(params))
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()

    def run_many(self, conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
        """Run a named statement once per parameter set (one round trip on PostgreSQL: psycopg pipelines it)."""
        self._cursor(conn).executemany(self._driver_sql[name], [self._bind(p) for p in rows])

    def _cursor(self, conn: Connection) -> Any:
        """The driver cursor that named queries use on this connection, made once per connection: a new cursor
        per statement cost psycopg a tenth of a claim's client time."""
        info = conn.connection.info
        cursor = info.get(_CURSOR)
        if cursor is None:
            driver: Any = conn.connection.driver_connection
            cursor = driver.cursor(row_factory=self._pg_rows) if self.dialect == "postgresql" else driver.cursor()
            info[_CURSOR] = cursor
        return cursor

    def _bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.dialect == "postgresql":
            return dict(params)
        return {k: _sqlite_time(v) if isinstance(v, datetime) else v for k, v in params.items()}

    def now(self, conn: Connection) -> datetime:
        """The database clock (or the ``clock`` given): leases and their expiry are judged by it alone."""
        if self.clock is not None:
            return self.clock.now()
        return as_utc(self.run(conn, "db_now")[0].now)

    def checkpoint(self) -> None:
        """Copy committed pages from SQLite's write-ahead log into the database file, and keep the log bounded.

        SQLite's own checkpoint runs in the commit that finds the log past 1,000 pages, inside a reviewer's
        request; and under load some reader always still needs the log when a writer begins, so the log never
        starts over. 8 reviewers draining 6,000 tasks: 420-530 cycles/s and a 0.4-0.5 GB log that way, 630-730
        cycles/s and a log kept under 64 MiB this way (same machine, runs interleaved). A passive checkpoint never
        waits; past ``WAL_RESTART_PAGES`` a restart waits up to ``RESTART_WAIT`` for the readers of the moment,
        holding back writers meanwhile, so that the next commit writes the log from its start; if readers stay
        longer it gives up and tries again ``RESTART_BACKOFF`` later. Nothing to do on PostgreSQL or in memory."""
        if self.dialect != "sqlite" or self.in_memory:
            return
        with self._checkpoint_lock:
            if self._checkpointer is None:  # a connection of its own, to the file the engine opens
                (path,), options = self.engine.dialect.create_connect_args(self.engine.url)
                self._checkpointer = sqlite3.connect(
                    path, RESTART_WAIT, isolation_level=None, check_same_thread=False, uri=bool(options.get("uri"))
                )
            _busy, pages, _copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if pages > WAL_RESTART_PAGES and time.monotonic() >= self._restart_after:
                (busy, _pages, _copied) = self._checkpointer.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                self._restart_after = time.monotonic() + (RESTART_BACKOFF if busy else 0.0)

    def checkpointer(self) -> Periodic | None:
        """The worker that runs ``checkpoint`` in the background, for the owner to start and stop; None where the
        commits checkpoint themselves (no ``background_checkpoints``, PostgreSQL, in memory)."""
        if not self._background_checkpoints:
            return None
        return Periodic("sqlite checkpoints", self.checkpoint, CHECKPOINT_EVERY, final=True)

    def dispose(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        self.engine.dispose()


CHECKPOINT_EVERY = 0.1  # seconds between background checkpoints
WRITE_WAIT = 60.0  # seconds a SQLite writer waits for its turn, as long as SQLite's own busy timeout
WAL_RESTART_PAGES = 4_000  # about 16 MiB of log (160 review cycles) before a checkpoint waits to start it over
RESTART_WAIT = 0.1  # seconds a restart may hold back writers while it waits for readers of old pages
RESTART_BACKOFF = 5.0  # seconds before the next restart, when readers stayed longer than RESTART_WAIT
WAL_SIZE_LIMIT = 64 * 2**20  # bytes of log file kept after it starts over (a long reader may have grown it)


def _driver_sql(dialect: Dialect, sql: str, *, clocked: bool = False) -> str:
    """A named query in the driver's parameter style: sqlite3 takes ``:name`` as written, psycopg ``%(name)s``.
    ``clocked`` (SQLite): the time is the Database's clock, ``signoff_now()``, wherever SQLite's ``'now'`` stood."""
    if dialect == "sqlite":
        return sql.replace("'now'", "signoff_now()") if clocked else sql
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))


def stored_time(conn: Connection, value: datetime) -> object:
    """A time as ``write_rows`` binds it: SQLite's UTC text, PostgreSQL's timestamptz."""
    return _sqlite_time(value) if conn.dialect.name == "sqlite" else value


def write_rows(conn: Connection, table: str, names: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write many rows of plain values (times from ``stored_time``, JSON as text, enums by value) in the caller's
    transaction, through the driver: ``COPY`` on PostgreSQL (its bulk load; psycopg streams the rows),
    ``executemany`` on SQLite. SQLAlchemy's executemany costs more per row than either database takes to store
    it (``bench/intake.py``)."""
    columns = ", ".join(f'"{name}"' for name in names)
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with driver.cursor().copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
    else:
        driver.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(names))})', rows)


def _sqlite_time(value: datetime) -> str:
    """A datetime as SQLite keeps it here: UTC text in SQLAlchemy's format, so that times compare as text."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; pass a timezone-aware UTC datetime")
    if value.utcoffset():
        value = value.astimezone(UTC)
    # "+00:00" cut off the text rather than the time zone off the time: ``datetime.replace`` costs as much as the
    # formatting, and a claim and a submit bind nine times
    return value.isoformat(" ", "microseconds")[:-6]


def _is_unreachable(error: OperationalError) -> bool:
    message = str(error.orig).lower()
    return any(
        s in message
        for s in (
            "connection refused",
            "could not connect",
            "unable to open",
            "does not exist",
            "the database system is",  # shutting down, starting up, in recovery mode: a restart
        )
    )


def _synchronous() -> str:
    """NORMAL by default; SIGNOFF_SQLITE_SYNCHRONOUS=FULL trades write speed for surviving a power loss."""
    value = os.environ.get("SIGNOFF_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if value not in ("NORMAL", "FULL"):
        raise SignoffError(f"SIGNOFF_SQLITE_SYNCHRONOUS must be NORMAL or FULL, got {value!r}")
    return value


_CURSOR = "signoff_cursor"  # where a pooled connection keeps the cursor of its named queries

PING_AFTER_IDLE = 5.0  # seconds a pooled PostgreSQL connection may sit unused before it is pinged on checkout


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only if it sat unused for a while (SQLAlchemy's custom pessimistic
    disconnect handling). ``pool_pre_ping`` pings on every checkout: a round trip per transaction, two per review
    cycle. A server restart in the last few seconds still fails one request; SQLAlchemy then replaces the whole
    pool (tests/integration/test_database.py shows both)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"the pooled connection is gone: {error}") from error


def _configure_sqlite(engine: Engine, *, autocheckpoint: bool, clock: Clock | None = None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        if clock is not None:  # deterministic: SQLite may compute it once per statement, as it does 'now'
            dbapi_connection.create_function("signoff_now", 0, lambda: _sqlite_time(clock.now()), deterministic=True)
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process; a power loss may drop the last commits (FULL would not).
        cursor.execute(f"PRAGMA synchronous={_synchronous()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:  # Database.checkpoint does it
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("signoff_write", True)
        # On the driver's connection: a BEGIN through SQLAlchemy's execution costs more than the BEGIN itself.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")  # type: ignore[union-attr]
