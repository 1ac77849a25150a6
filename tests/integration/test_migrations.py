"""The migrations produce exactly the schema in ``signoff.store.schema``, with append-only audit tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from signoff.errors import DatabaseNotReady
from signoff.store import migrate
from signoff.store.database import Database
from signoff.store.schema import metadata


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_migrations_produce_the_metadata_schema(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    with pytest.raises(DatabaseNotReady, match="signoff db upgrade"):
        migrate.require_current(db)
    migrate.upgrade(db)
    migrate.upgrade(db)  # a second run changes nothing
    with db.engine.connect() as conn:
        with warnings.catch_warnings():
            # SQLite cannot reflect expression indexes; that index is compared by its SQL below instead.
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        claim_indexes = {"ix_tasks_open", "ix_tasks_open_any"}
        if db.dialect == "sqlite":
            diff = [d for d in diff if not (d[0] in ("add_index", "remove_index") and d[1].name in claim_indexes)]
            for name in claim_indexes:
                sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar_one()
                assert "priority DESC, (due_at IS NULL), due_at, id" in sql and "WHERE status <> 'done'" in sql
        else:
            assert claim_indexes <= {i["name"] for i in inspect(conn).get_indexes("tasks")}
        assert diff == []
    migrate.require_current(db)
    db.dispose()


@pytest.mark.parametrize("table", ["audit_events", "audit_seals"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_audit_tables_refuse_update_and_delete(db: Database, table: str, statement: str) -> None:
    from signoff import audit
    from signoff.domain import AuditEvent

    with db.transaction() as conn:
        audit.record(db, conn, [AuditEvent("tester", "test.done", "test", "1", {"x": 1})])
    audit.seal(db)
    column = "actor" if table == "audit_events" else "hash"
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as conn:
        conn.execute(text(statement.format(t=table, c=column)))
    with db.transaction(write=False) as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_refused_step_leaves_the_schema_as_it_was_and_says_so(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    migrate.upgrade(db, "0009")
    with db.engine.begin() as conn:  # a hand-made index in the way of 0010's last step
        conn.execute(text("CREATE INDEX ix_audit_events_entity ON audit_events (actor)"))
    with pytest.raises(DatabaseNotReady, match="from revision 0009 to head failed, and nothing was changed"):
        migrate.upgrade(db)
    assert migrate.current(db) == "0009"
    with db.engine.connect() as conn:  # 0010's first steps (a column, an index) were rolled back with it
        assert "entity" not in {c["name"] for c in inspect(conn).get_columns("cases")}
        assert "ix_cases_flow_entity" not in {i["name"] for i in inspect(conn).get_indexes("cases")}
    db.dispose()


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_existing_users_keep_their_role_on_every_flow(empty_database_url: str) -> None:
    from signoff import users
    from signoff.domain import Role

    db = Database(empty_database_url)
    migrate.upgrade(db, "0010")
    with db.transaction() as conn:
        conn.execute(
            text("INSERT INTO users (name, role, created_at) VALUES ('alice', 'lead', '2026-01-01 00:00:00+00:00')")
        )
    migrate.upgrade(db)
    (alice,) = users.list_users(db)
    assert alice.describe() == "lead on *" and alice.role is Role.LEAD
    db.dispose()


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_edges_open_a_database_only_at_this_codes_schema(empty_database_url: str, tmp_path: Path) -> None:
    from helpers.builders import make_project
    from signoff.database import open_database, revision, upgrade

    project = make_project(tmp_path, empty_database_url)
    with pytest.raises(DatabaseNotReady, match="has no Signoff schema"):
        open_database(project)
    db = open_database(project, ready=False)
    assert revision(db) is None
    upgrade(db)
    db.dispose()
    db = open_database(project)
    assert revision(db) == migrate.head()
    db.dispose()
