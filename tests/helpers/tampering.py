"""What a database superuser can do to the audit tables, for the tests that show it is caught."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from signoff import audit
from signoff.store import audit as audit_store
from signoff.store.database import Database


def tamper(db: Database, sql: str) -> None:
    """Edit the audit tables as their owner would, with the append-only triggers and foreign keys out of the way."""
    if db.dialect == "postgresql":
        with db.transaction() as conn:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_seals DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_seals DROP CONSTRAINT IF EXISTS fk_audit_seals_event_id_audit_events"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_seals ENABLE TRIGGER USER"))
        return
    db.dispose()
    raw = sqlite3.connect(db.url.removeprefix("sqlite:///"))
    raw.execute("PRAGMA foreign_keys=OFF")
    for table in ("audit_events", "audit_seals"):
        raw.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        raw.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    raw.execute(sql)
    raw.commit()
    raw.close()


def rehash(db: Database) -> None:
    """What a database superuser can do after editing events: recompute every seal so the chain is consistent."""
    with db.transaction() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_seals DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_seals_no_update"))
        prev = audit.GENESIS
        for row in list(audit_store.chain(db, conn)):
            body = audit.row_body(row.event_id, row)
            digest = audit.chained(prev, body)
            conn.execute(
                text("UPDATE audit_seals SET prev_hash = :prev, hash = :hash, body = :body WHERE seq = :seq"),
                {"prev": prev, "hash": digest, "body": body, "seq": row.seq},
            )
            prev = digest
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_seals ENABLE TRIGGER USER"))
