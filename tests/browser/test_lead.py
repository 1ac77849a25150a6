"""The lead page: the floor at a glance, assigning a task to a named reviewer, lifting a gold pause, checking and
resolving label conflicts; refused for other roles and without the session's CSRF token, and nothing half-done on
an error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from playwright.sync_api import expect
from sqlalchemy import select, update

from helpers.builders import case
from helpers.web import Site, login, shot
from signoff import review
from signoff.domain import User, UserId
from signoff.review.escalation import escalate
from signoff.store import reviewers as people
from signoff.store import users as user_store
from signoff.store.schema import label_conflicts, reviewer_pauses, tasks


def _user(site: Site, name: str) -> User:
    with site.db.transaction(write=False) as conn:
        return user_store.user_by_name(conn, name)


def _assignee(site: Site, task_id: int) -> str | None:
    with site.db.transaction(write=False) as conn:
        owner = conn.execute(select(tasks.c.assignee).where(tasks.c.id == task_id)).scalar_one()
        return None if owner is None else user_store.user_by_id(conn, UserId(owner)).name


def _pause(site: Site, name: str) -> None:
    with site.db.transaction() as conn:
        people.pause(conn, _user(site, name).id, "test-flow", "default", "2 of 3 gold answers wrong", site.db.now(conn))


def _open_pauses(site: Site) -> int:
    with site.db.transaction(write=False) as conn:
        return len(list(conn.execute(select(reviewer_pauses.c.id).where(reviewer_pauses.c.lifted_at.is_(None)))))


def _task_ids(site: Site) -> list[int]:
    with site.db.transaction(write=False) as conn:
        return list(conn.execute(select(tasks.c.id).order_by(tasks.c.id)).scalars())


def test_a_lead_sees_the_floor_assigns_a_task_and_lifts_a_pause(site: Site, context: Any) -> None:
    site.submit([case(0.5, note=f"case {i}") for i in range(6)])
    first, *_, last = _task_ids(site)
    with site.db.transaction() as conn:  # one task past due: the escalation sweep holds it (the queue has no chain)
        conn.execute(update(tasks).where(tasks.c.id == last).values(due_at=site.db.now(conn) - timedelta(minutes=1)))
    assert [e.action for e in escalate(site.db, site.project)] == ["hold"]
    _pause(site, "admin")

    page = context.new_page()
    login(page, site, "lena", "/lead")
    expect(page.locator("h1")).to_have_text("Review floor")
    queues = page.locator("table.data").first
    expect(queues.locator("tbody tr")).to_have_count(1)
    expect(queues.locator("tbody td").nth(2)).to_have_text("6")  # open
    reviewers = page.locator("table.reviewers")
    expect(reviewers.locator("tbody th")).to_have_text(["admin", "alice", "bob", "lena"])
    expect(page.locator("#reviewer-admin")).to_contain_text("2 of 3 gold answers wrong")
    expect(page.locator("#reviewer-bob")).to_contain_text("no gold yet")
    expect(page.get_by_role("region", name="Latest escalations")).to_contain_text("held")
    expect(page.locator("table.tasks tbody tr")).to_have_count(6)

    page.locator(f"#task-{first}").get_by_role("link", name=f"Assign task {first}").click()
    expect(page.get_by_label("Task id")).to_have_value(str(first))
    page.get_by_label("Reviewer").select_option("bob")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(f"Task {first} is assigned to bob: only bob can claim it now.")
    expect(page.locator(f"#task-{first}")).to_contain_text("bob")
    assert _assignee(site, first) == "bob"

    by_alice = review.claim(site.db, site.project, _user(site, "alice"))
    assert by_alice is not None and by_alice.task_id != first  # the first task in claim order, but reserved
    by_bob = review.claim(site.db, site.project, _user(site, "bob"))
    assert by_bob is not None and by_bob.task_id == first
    page.reload()
    expect(page.locator(f"#task-{first}")).to_contain_text("bob")
    shot(page, "lead-floor")

    page.get_by_role("button", name="Lift the pause of admin on test-flow/default").click()
    expect(page.get_by_role("status")).to_have_text("The gold pause of admin on test-flow/default is lifted.")
    expect(page.locator("#reviewer-admin")).not_to_contain_text("gold answers wrong")
    assert _open_pauses(site) == 0


def test_a_bad_assignment_shows_why_and_changes_nothing(site: Site, context: Any) -> None:
    site.submit([case(0.5), case(0.6)])
    first, second = _task_ids(site)
    page = context.new_page()
    login(page, site, "lena", "/lead")
    page.get_by_label("Task id").fill(str(first))
    page.get_by_label("Reviewer").select_option("bob")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("assigned to bob")

    page.get_by_label("Task id").fill("999999")
    page.get_by_label("Reviewer").select_option("alice")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Task 999999 does not exist.")
    expect(page.get_by_label("Task id")).to_have_value("999999")  # what was typed is kept

    refused = page.request.post(
        site.url + "/lead/assign",
        form={"csrf_token": _form_token(page), "task": str(first), "reviewer": "owen"},
    )
    assert refused.status == 422 and "owen may not take reviewer tasks on flow test-flow" in refused.text()
    unknown = page.request.post(
        site.url + "/lead/assign", form={"csrf_token": _form_token(page), "task": str(first), "reviewer": "zed"}
    )
    assert unknown.status == 404 and "User &#39;zed&#39; does not exist." in unknown.text()
    assert _assignee(site, first) == "bob"  # neither refused assignment touched it

    claim = review.claim(site.db, site.project, _user(site, "bob"))
    assert claim is not None and claim.task_id == first
    review.submit(site.db, site.project, _user(site, "bob"), claim.task_id, claim.token, "good")
    page.get_by_label("Task id").fill(str(first))
    page.get_by_label("Reviewer").select_option("alice")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(f"Task {first} is done; only open tasks can be assigned.")
    shot(page, "lead-error")

    page.locator(f"#task-{second}").get_by_role("link", name=f"Assign task {second}").click()
    page.get_by_label("Reviewer").select_option("alice")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.get_by_role("button", name=f"Clear the assignment of task {second}").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Task {second} is no longer assigned: anyone who may take it can claim it."
    )
    assert _assignee(site, second) is None


def _form_token(page: Any) -> str:
    token = page.locator('#assign input[name="csrf_token"]').get_attribute("value")
    assert token
    return str(token)


def test_a_reviewer_is_kept_out_of_the_lead_page_and_its_forms(site: Site, context: Any) -> None:
    site.submit([case(0.5)])
    (task,) = _task_ids(site)
    _pause(site, "bob")
    page = context.new_page()
    login(page, site, "alice", "/account")
    shown = page.goto(site.url + "/lead")
    assert shown is not None and shown.status == 403
    token = page.locator('form[action="/logout"] input[name="csrf_token"]').get_attribute("value")
    assign = page.request.post(
        site.url + "/lead/assign", form={"csrf_token": token, "task": str(task), "reviewer": "alice"}
    )
    assert assign.status == 403 and "Not for your role" in assign.text()
    lift = page.request.post(
        site.url + "/lead/pauses/lift",
        form={"csrf_token": token, "reviewer": "bob", "flow": "test-flow", "queue": "default"},
    )
    assert lift.status == 403
    assert _assignee(site, task) is None and _open_pauses(site) == 1

    anonymous = context.browser.new_context().new_page()
    gone = anonymous.request.post(
        site.url + "/lead/assign", form={"task": str(task), "reviewer": "alice"}, max_redirects=0
    )
    assert gone.status == 303 and gone.headers["location"].startswith("/login")
    anonymous.context.close()
    assert _assignee(site, task) is None


def test_a_lead_form_without_the_sessions_csrf_token_changes_nothing(site: Site, context: Any) -> None:
    site.submit([case(0.5)])
    (task,) = _task_ids(site)
    _pause(site, "bob")
    page = context.new_page()
    login(page, site, "lena", "/lead")
    for token in (None, "guessed"):
        form = {"task": str(task), "reviewer": "alice"} | ({"csrf_token": token} if token else {})
        refused = page.request.post(site.url + "/lead/assign", form=form)
        assert refused.status == 403 and "Form refused" in refused.text()
        pause = {"reviewer": "bob", "flow": "test-flow", "queue": "default"} | ({"csrf_token": token} if token else {})
        assert page.request.post(site.url + "/lead/pauses/lift", form=pause).status == 403
    assert _assignee(site, task) is None and _open_pauses(site) == 1


def test_a_lead_checks_the_labels_and_resolves_a_conflict(site: Site, context: Any) -> None:
    (submitted,) = site.submit([case(0.5, external_id="loan-7")])
    alice = _user(site, "alice")
    claim = review.claim(site.db, site.project, alice)
    assert claim is not None
    review.submit(site.db, site.project, alice, claim.task_id, claim.token, "good")
    posted = httpx.post(
        f"{site.url}/api/v1/flows/test-flow/outcomes",
        json={"external_id": "loan-7", "label": "bad", "source": "bureau"},
        headers={"Authorization": f"Bearer {site.intake_token}"},
        timeout=30,
    )
    assert posted.status_code == 201, posted.text

    page = context.new_page()
    login(page, site, "lena", "/lead")
    conflicts = page.get_by_role("region", name="Label conflicts")
    expect(conflicts).to_contain_text("No label conflict is open.")
    conflicts.get_by_label("Flow").select_option("test-flow")
    conflicts.get_by_role("button", name="Check labels").click()
    expect(page.get_by_role("status")).to_have_text("Labels of test-flow checked; open conflicts: 1.")
    row = page.locator("table.conflicts tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(str(submitted["case_id"]))
    expect(row).to_contain_text("decision (reviewer): good")
    expect(row).to_contain_text("outcome bureau: bad")
    conflict_id = (row.get_attribute("id") or "").removeprefix("conflict-")
    shot(page, "lead-label-conflicts")

    row.get_by_label(f"The label that wins conflict {conflict_id}").select_option("bad")
    row.get_by_label(f"Why, for conflict {conflict_id}").fill("the bureau's default notice is on file")
    row.get_by_role("button", name=f"Resolve conflict {conflict_id}").click()
    expect(page.get_by_role("status")).to_have_text(f"Conflict {conflict_id} resolved: bad wins.")
    expect(conflicts).to_contain_text("No label conflict is open.")
    with site.db.transaction(write=False) as conn:
        found = conn.execute(select(label_conflicts.c.resolved_label, label_conflicts.c.resolved_by)).one()
    assert tuple(found) == ("bad", "lena")
