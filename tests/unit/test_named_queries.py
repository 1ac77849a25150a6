"""Both SQL dialects define the same named queries."""

from __future__ import annotations

from signoff.store.database import named_queries


def test_sqlite_and_postgresql_define_the_same_query_names() -> None:
    assert sorted(named_queries("sqlite")) == sorted(named_queries("postgresql"))


def test_the_queries_the_store_relies_on_exist_with_a_body() -> None:
    for dialect in ("sqlite", "postgresql"):
        queries = named_queries(dialect)
        assert {"claim_task", "complete_task", "db_now", "extend_lease", "lock_sealer"} <= set(queries)
        assert all(body and not body.endswith(";") for body in queries.values()), dialect
