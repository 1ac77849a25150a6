"""The database as the edges (API, web UI, command line) get it: a project's database opened and checked to be at
this code's schema, and the schema's upgrade. The edges pass the handle on to the services and never read the
store themselves; connections, transactions and migrations stay the store's (``signoff.store``)."""

from __future__ import annotations

from signoff.config import Project
from signoff.store.database import Database
from signoff.store.migrate import current as revision
from signoff.store.migrate import require_current, upgrade

__all__ = ["Database", "exists", "open_database", "require_current", "revision", "upgrade"]


def exists(project: Project) -> bool:
    """Whether the project's database may exist: False only for a SQLite file that is not there, which opening
    would create (a replay must leave no empty database behind)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(project.database_url)
    path = url.database
    if (
        url.get_backend_name() != "sqlite"
        or not path
        or path == ":memory:"
        or url.query.get("uri")
        or path.startswith("file:")
    ):
        return True
    return Path(path).exists()


def open_database(project: Project, *, ready: bool = True, background_checkpoints: bool = False) -> Database:
    """The project's database; with ``ready``, refused (``DatabaseNotReady``) unless its schema is this code's.
    ``background_checkpoints``: a server checkpoints SQLite's write-ahead log off its requests' path."""
    db = Database(project.database_url, background_checkpoints=background_checkpoints)
    if ready:
        try:
            require_current(db)
        except BaseException:
            db.dispose()  # refused: nothing of it stays open
            raise
    return db
