"""SQLite under a server. Writers of a process wait their turn on a lock of its own, and say so when the wait is too
long. Commits leave the write-ahead log to the background checkpoint, which copies it back and starts it over once
it is long, giving up (and trying later) while a reader still needs old pages."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from helpers.scripted import scripted_project
from signoff.api.app import create_app
from signoff.store import database
from signoff.store.database import Database, DatabaseUnavailable

PAGE = 4096


@pytest.fixture
def served(sqlite_url: str) -> Iterator[Database]:
    db = Database(sqlite_url, background_checkpoints=True)
    yield db
    db.dispose()


def _file(db: Database) -> Path:
    return Path(make_url(db.url).database or "")


def _write_pages(db: Database, pages: int) -> None:
    """About ``pages`` new pages of log, in one transaction."""
    with db.transaction() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (blob BLOB)"))
        for _ in range(pages):
            conn.execute(text("INSERT INTO filler VALUES (randomblob(4000))"))


def _log_pages(db: Database) -> int:
    """Pages in the log now, as a passive checkpoint from a connection of its own reports them (-1: no log)."""
    with closing(sqlite3.connect(_file(db))) as conn:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_commits_leave_the_log_to_the_background_checkpoint(sqlite_url: str, served: Database) -> None:
    with served.transaction() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
    before = _file(served).stat().st_size
    _write_pages(served, 1500)  # past SQLite's own threshold of 1,000 pages
    assert _file(served).stat().st_size == before, "a commit copied the log back itself"
    served.checkpoint()
    assert _file(served).stat().st_size >= before + 1500 * PAGE

    own = Database(sqlite_url)  # without the flag (the command line): SQLite's own checkpoints, in the commits
    try:
        grown = _file(own).stat().st_size
        _write_pages(own, 1500)
        assert _file(own).stat().st_size >= grown + 1000 * PAGE
    finally:
        own.dispose()


@pytest.mark.parametrize("restart_pages", [50, 10_000])
def test_a_long_log_starts_over_though_readers_keep_coming(
    served: Database, monkeypatch: pytest.MonkeyPatch, restart_pages: int
) -> None:
    """Under load some reader always still needs the log when a writer begins, so the log never starts over by
    itself; past WAL_RESTART_PAGES the checkpoint waits for the readers of the moment, and the next writer does."""
    monkeypatch.setattr(database, "WAL_RESTART_PAGES", restart_pages)
    monkeypatch.setattr(database, "RESTART_WAIT", 10.0)  # however slow the machine, the reader ends within it
    _write_pages(served, 100)
    first = _reader(served)
    _write_pages(served, 1)  # a commit the first reader does not see, so it needs the log
    ends = threading.Timer(0.05, first.execute, ["COMMIT"])
    ends.start()
    served.checkpoint()
    ends.join()
    first.close()
    second = _reader(served)  # the next reader, begun before the next writer
    _write_pages(served, 1)
    second.execute("COMMIT")
    second.close()
    if restart_pages < 100:
        assert 0 < _log_pages(served) < 10, "the commit after the restart did not write the log from its start"
    else:
        assert _log_pages(served) > 100


def _reader(db: Database) -> sqlite3.Connection:
    """A connection in a read transaction: it keeps its snapshot until it commits."""
    reader = sqlite3.connect(_file(db), isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM filler").fetchone()
    return reader


def test_a_reader_of_old_pages_holds_the_restart_back_without_losing_writes(
    served: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "WAL_RESTART_PAGES", 50)
    monkeypatch.setattr(database, "RESTART_BACKOFF", 0.0)
    _write_pages(served, 10)
    reader = _reader(served)
    _write_pages(served, 100)
    served.checkpoint()  # cannot start the log over under the reader: gives up after RESTART_WAIT
    _write_pages(served, 1)
    assert _log_pages(served) > 100
    assert reader.execute("SELECT COUNT(*) FROM filler").fetchone()[0] == 10
    reader.execute("COMMIT")
    reader.close()
    served.checkpoint()
    _write_pages(served, 1)
    assert 0 < _log_pages(served) < 10
    with served.transaction(write=False) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM filler")).scalar_one() == 112


def test_the_server_runs_the_checkpoints(served: Database, tmp_path: Path) -> None:
    project = scripted_project(served, tmp_path)
    with TestClient(create_app(project)):
        assert "signoff-sqlite checkpoints" in {thread.name for thread in threading.enumerate()}
    assert "signoff-sqlite checkpoints" not in {thread.name for thread in threading.enumerate()}


def test_a_writer_kept_waiting_too_long_is_told_the_database_is_busy_and_writes_nothing(
    served: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "WRITE_WAIT", 0.2)
    _write_pages(served, 1)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with served.transaction():
            holding.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(10)
        with served.transaction(write=False) as conn:  # readers never wait for a turn
            assert conn.execute(text("SELECT COUNT(*) FROM filler")).scalar_one() == 1
        busy = r"is busy: no write could start for 0.2 s; try again"
        with pytest.raises(DatabaseUnavailable, match=busy), served.transaction() as conn:
            conn.execute(text("INSERT INTO filler VALUES (zeroblob(1))"))
    finally:
        done.set()
        holder.join()
    with served.transaction() as conn:  # the turn is free again
        assert conn.execute(text("SELECT COUNT(*) FROM filler")).scalar_one() == 1
