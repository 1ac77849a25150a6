"""Schema migrations with Alembic, shipped inside the package so that ``signoff db upgrade`` works anywhere."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from signoff.errors import DatabaseNotReady
from signoff.store.database import Database


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("signoff.store") / "migrations"))
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(db: Database) -> str | None:
    with db.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; safe to run again. All steps run in one transaction: a step the
    database refuses leaves the schema as it was, and the error names the revision it was at."""
    before = current(db)
    try:
        with db.connect() as conn, conn.begin():
            config = _config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except DBAPIError as error:
        raise DatabaseNotReady(
            f"upgrading {db.safe_url} from revision {before or 'none'} to {revision} failed, and nothing was "
            f"changed: {str(error.orig).splitlines()[0]}. Was this database changed by hand, or by another "
            "version of Signoff?"
        ) from error


def require_current(db: Database) -> None:
    """Refuse to serve a database whose schema is missing or older than this code."""
    found = current(db)
    if found != head():
        state = "has no Signoff schema" if found is None else f"is at revision {found}, expected {head()}"
        raise DatabaseNotReady(f"the database {db.safe_url} {state}; run `signoff db upgrade`")
