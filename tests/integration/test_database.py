"""The PostgreSQL pool: a connection the server dropped is replaced, pinged only after sitting idle."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from signoff.store import database, migrate
from signoff.store.database import Database, DatabaseUnavailable


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url, pool_size=1)
    yield db
    db.dispose()


def _backend(db: Database) -> int:
    with db.transaction(write=False) as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _drop(db: Database, pid: int) -> None:
    """What a server restart or an idle timeout does to a pooled connection (from a connection of its own)."""
    conninfo = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_connection_dropped_while_idle_is_pinged_and_replaced_without_a_failed_request(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(pg)
    _drop(pg, first)
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)  # as if it had sat idle past the limit
    assert _backend(pg) != first  # the ping found it gone, and the pool connected afresh


def test_a_connection_dropped_moments_after_use_fails_one_request_as_unavailable_then_the_pool_recovers(
    pg: Database,
) -> None:
    first = _backend(pg)
    _drop(pg, first)
    with pytest.raises(DatabaseUnavailable, match="closed the connection"):  # used again at once: not pinged, so
        _backend(pg)  # this request sees the loss, as a 503 to try again
    assert _backend(pg) != first  # SQLAlchemy replaced the pool's connections after the disconnect


def test_a_new_sqlite_file_and_its_log_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """The file holds password hashes, case data and the audit trail; it was created 0644 under the usual umask."""
    old = os.umask(0o022)
    try:
        db = Database(f"sqlite:///{tmp_path / 'new.db'}")
        migrate.upgrade(db)
        with db.transaction() as conn:  # a write, so that the write-ahead log exists
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        db.dispose()
    finally:
        os.umask(old)
    assert modes["new.db"] == 0o600 and modes.get("new.db-wal", 0o600) == 0o600, modes
