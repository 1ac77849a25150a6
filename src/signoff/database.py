"""The database as the edges (API, web UI, command line) get it: a project's database opened and checked to be at
this code's schema, and the schema's upgrade. The edges pass the handle on to the services and never read the
store themselves; connections, transactions and migrations stay the store's (``signoff.store``)."""

from __future__ import annotations

from signoff.config import Project
from signoff.store.database import Database
from signoff.store.migrate import current as revision
from signoff.store.migrate import require_current, upgrade

__all__ = ["Database", "open_database", "require_current", "revision", "upgrade"]


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
