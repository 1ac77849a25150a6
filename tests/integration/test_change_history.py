"""The change history on SQLite and PostgreSQL: each change of a user, their roles, skills and tokens, and each change
of a loaded flow file (its settings, policy and queues), is one audit event with its author and an RFC 6902 diff
from the document before to the one after; no token, hash or password is in any of them; the chain still verifies."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonpatch
from sqlalchemy import select

from helpers.builders import make_project
from signoff import audit, intake, users
from signoff.domain import Role
from signoff.review import leads
from signoff.store.database import Database
from signoff.store.schema import api_tokens, audit_events
from signoff.store.schema import users as user_table


def _events(db: Database, after: int = 0) -> list[Any]:
    with db.transaction(write=False) as conn:
        query = select(audit_events).where(audit_events.c.id > after).order_by(audit_events.c.id)
        return list(conn.execute(query))


def _top(db: Database) -> int:
    found = _events(db)
    return found[-1].id if found else 0


def _one(db: Database, after: int, action: str) -> Any:
    """The only event recorded since ``after`` (and it is ``action``)."""
    found = _events(db, after)
    assert [e.action for e in found] == [action]
    return found[0]


def _check_change(data: dict[str, Any]) -> None:
    """The uniform shape: applying the diff to ``before`` gives ``after``."""
    assert jsonpatch.apply_patch(data["before"] or {}, data["diff"]) == (data["after"] or {})


def test_each_change_of_a_user_is_one_event_with_its_author_and_diff(db: Database, tmp_path: Path) -> None:
    make_project(tmp_path, db.url)
    lena, _ = users.create_user(db, "lena", Role.LEAD, "root")
    mark = _top(db)
    _, token = users.create_user(db, "ada", Role.REVIEWER, "root", ["test-flow"])
    created, issued = _events(db, mark)
    assert (created.action, created.actor, issued.action, issued.actor) == (
        "user.created",
        "root",
        "token.issued",
        "root",
    )
    assert created.data["before"] is None
    assert created.data["after"] == {
        "name": "ada",
        "active": True,
        "grants": [{"role": "reviewer", "flow": "test-flow"}],
    }
    assert issued.data["diff"] == [{"op": "replace", "path": "/live_tokens", "value": 1}]

    mark = _top(db)
    users.grant(db, "ada", Role.LEAD, ["test-flow"], "root")
    granted = _one(db, mark, "user.granted")
    assert granted.actor == "root"
    assert granted.data["diff"] == [{"op": "add", "path": "/grants/0", "value": {"role": "lead", "flow": "test-flow"}}]

    mark = _top(db)
    users.grant(db, "ada", Role.LEAD, ["test-flow"], "root")  # held already: no change, no event
    assert _events(db, mark) == []

    users.revoke(db, "ada", Role.LEAD, ["test-flow"], "auditor-of-roles")
    revoked = _one(db, mark, "user.revoked")
    assert revoked.actor == "auditor-of-roles"
    assert revoked.data["diff"] == [{"op": "remove", "path": "/grants/0"}]

    mark = _top(db)
    users.issue_token(db, "ada", "root")
    users.issue_token(db, "ada", "root", revoke_others=True)
    first, second = _events(db, mark)
    assert (first.data["before"], first.data["after"]) == ({"live_tokens": 1}, {"live_tokens": 2})
    assert (second.data["before"], second.data["after"]) == ({"live_tokens": 2}, {"live_tokens": 1})

    mark = _top(db)
    users.set_active(db, "ada", False, "root")
    deactivated = _one(db, mark, "user.deactivated")
    assert deactivated.data["diff"] == [{"op": "replace", "path": "/active", "value": False}]

    users.set_active(db, "ada", True, "root")
    mark = _top(db)
    leads.set_skills(db, lena, "ada", ["spanish", "fraud"])
    leads.set_skills(db, lena, "ada", ["fraud"])
    first, second = _events(db, mark)
    assert (first.actor, first.action, first.data["before"]) == ("lena", "user.skills_set", {"skills": []})
    assert second.data["diff"] == [{"op": "remove", "path": "/skills/1"}]

    users.set_password(db, "ada", "correct horse battery staple", "root")
    events = _events(db)
    for event in events:
        if "diff" in event.data:
            _check_change(event.data)
    with db.transaction(write=False) as conn:
        hashes = list(conn.execute(select(api_tokens.c.token_hash)).scalars())
        passwords = [p for p in conn.execute(select(user_table.c.password_hash)).scalars() if p]
    written = json.dumps([dict(e._mapping) for e in events], default=str)
    for secret in [token, "correct horse battery staple", *hashes, *passwords]:
        assert secret not in written
    audit.seal(db)
    assert audit.verify(db).ok


def _flow_loads(db: Database, after: int) -> list[Any]:
    return [e for e in _events(db, after) if e.action in ("flow.loaded", "policy.registered")]


def test_a_flow_file_change_is_one_event_however_many_processes_load_it(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    intake.prepare(db, project, "ops")
    first = [e for e in _events(db) if e.action == "flow.loaded"]
    assert len(first) == 1
    assert (first[0].actor, first[0].entity_id, first[0].data["before"]) == ("ops", "test-flow", None)
    assert first[0].data["policy_version"] == project.flow("test-flow").policy_version

    mark = _top(db)
    intake.prepare(db, project, "ops")  # a second process start, the same file: nothing changed
    intake.prepare(db, project, "another-process")
    assert _flow_loads(db, mark) == []

    changed = make_project(tmp_path, db.url, queues={"default": {"lease_ttl": 120}, "senior": {"role": "lead"}})
    intake.prepare(db, changed, "ops")
    intake.prepare(db, changed, "another-process")
    policy, loaded = _flow_loads(db, mark)
    assert (policy.action, loaded.action, loaded.actor) == ("policy.registered", "flow.loaded", "ops")
    assert loaded.data["policy_version"] == changed.flow("test-flow").policy_version == policy.entity_id
    assert loaded.data["load"] == 2
    paths = {op["path"] for op in loaded.data["diff"]}
    assert paths == {"/queues/default/lease_ttl", "/queues/senior"}
    assert {op["path"] for op in policy.data["diff"]} == paths
    _check_change(loaded.data)
    _check_change(policy.data)

    mark = _top(db)
    intake.prepare(db, project, "ops")  # back to the first file: a change again
    back = _flow_loads(db, mark)
    assert [e.action for e in back] == ["flow.loaded"]  # its policy version is known already
    assert back[0].data["after"] == first[0].data["after"]
    audit.seal(db)
    assert audit.verify(db).ok


def test_processes_starting_at_once_with_a_changed_file_record_it_once(db: Database, tmp_path: Path) -> None:
    intake.prepare(db, make_project(tmp_path, db.url), "ops")
    changed = make_project(tmp_path, db.url, costs={"per_review": 3.0, "per_case": 1.0, "currency": "EUR"})
    mark = _top(db)
    start = threading.Barrier(4)

    def load(name: str) -> None:
        start.wait()
        intake.prepare(db, changed, name)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(load, ["a", "b", "c", "d"]))
    loaded = _flow_loads(db, mark)
    assert [(e.action, e.data["load"]) for e in loaded] == [("flow.loaded", 2)]
    assert {op["path"] for op in loaded[0].data["diff"]} == {"/costs/per_review", "/costs/per_case", "/costs/currency"}
