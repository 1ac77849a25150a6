"""Lease chaos: reviewer processes work a queue over HTTP while the server is killed with SIGKILL (and PostgreSQL
restarted); afterwards the store must show nothing lost, nothing done twice and no stale lease accepted.

On SQLite (a file in a temporary folder) and on PostgreSQL (a database of its own, dropped at the end):

1. ``--tasks`` cases (default 6,000) go through the real intake into one review queue with a short lease
   (``--lease-ttl``, default 5 s). ``signoff serve`` runs as a real process on a loopback port.
2. ``--reviewers`` processes (default 8), each a reviewer with its own API token, loop for ``--seconds``
   (default 120): claim, then mostly submit (sometimes after a heartbeat), sometimes release. On purpose they
   also send submits that must be refused: after sleeping past the lease's expiry, after their heartbeat was
   refused, on a token they released, and a second, different answer on a task they completed. Like a real
   client, a reviewer whose connection drops or who gets a 5xx answer backs off and sends the same request again
   (a submit retried this way is replayed, not doubled), for up to ``GIVE_UP`` seconds.
3. Meanwhile the server is killed with SIGKILL ``--kills`` times (default 5) at random moments and started again on
   the same port; on PostgreSQL the database server is also restarted ``--restart-postgres`` times (default 1:
   ``pg_ctlcluster ... restart``, which cuts every connection of every user of that server for a second or two).
   ``signoff audit verify`` runs after every restart.
4. After the reviewers stop, every lease left behind expires and a sweeper (in this process, through the same
   service calls) claims and completes whatever is still open: a task that cannot be claimed again is lost.
   Then the server stops and the store is read.

Invariants, from the store and the reviewers' journals:

- lost: a submit answered 2xx whose review is not in the store; a task or case not completed after the sweep.
- double: a task with more than one review, a case with more than one ``case.decided`` event, or a second,
  different answer on a completed task accepted; two leases on a task that overlap in time.
- stale accepted: a submit the reviewer knew to be on a dead lease answered 2xx; a review whose lease is not the
  task's last, not its reviewer's, or had expired when the review was written.
- refused yet stored: a submit answered 4xx whose review is in the store (one never answered may be either).
- audit counts: ``task.claimed`` events = lease rows (per task and token), ``review.submitted`` = reviews,
  ``case.decided`` = decisions, ``task.released`` = leases ended by release, ``lease.extended`` between the
  heartbeats answered 2xx and the attempts that may have extended.
- chain: ``signoff audit verify`` intact after every restart and at the end, with every event sealed.

Run: ``make chaos`` or ``.venv/bin/python bench/lease_chaos.py`` (``--backend sqlite`` for one database,
``--seconds 30 --kills 2`` for a quick look). Loopback only. It prints a table and exits 1 if any invariant fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]  # the review bench's databases; the tests' helpers

from review_queue import DEFAULT_POSTGRES, database  # noqa: E402

from helpers.processes import ServerProcess, environment, signoff  # noqa: E402
from helpers.queues import queued  # noqa: E402
from signoff import review, users  # noqa: E402
from signoff.config import Project  # noqa: E402
from signoff.domain import Role, User  # noqa: E402
from signoff.errors import Conflict  # noqa: E402
from signoff.store import migrate  # noqa: E402
from signoff.store.database import Database  # noqa: E402
from signoff.store.schema import audit_events, audit_seals, cases, decisions, leases, reviews, tasks  # noqa: E402
from signoff.store.schema import users as user_rows  # noqa: E402

LABELS = ("good", "bad")  # the tests' flow (helpers.builders)
GIVE_UP = 60.0  # seconds a reviewer keeps retrying one request before it counts it as never answered
STALL = 0.02  # share of claims on which the reviewer sleeps past the lease's expiry, then submits
RELEASE = 0.08  # share of claims given back
HEARTBEAT = 0.3  # share of the rest that send a heartbeat before submitting
AGAIN = 0.05  # share of accepted submits followed by a different answer on the same lease
KILL, RESTART = "server SIGKILL", "PostgreSQL restart"
OLD_TOKEN = 0.5  # chance, after each task, of submitting on a token released earlier (when there is one)
LEASE_ENDS = ("submitted", "released", "expired")
# Why a reviewer knows its lease is dead when it submits on it anyway: each must be refused.
EXPIRED, BEAT_REFUSED, RELEASED, SECOND = "slept past expiry", "heartbeat refused", "released", "second answer"
STALE = (EXPIRED, BEAT_REFUSED, RELEASED, SECOND)
# The server's reasons for refusing a lease (409), as its messages word them (docs/explanation/leases-and-fencing.md).
REFUSALS = {
    "newer lease": "a newer lease",
    "expired": "it expired",
    "released": "it was released",
    "completed": "already completed",
}

console = Console() if sys.stdout.isatty() else Console(width=150)


# ---------------------------------------------------------------------------------------------------------------
# The reviewers: separate processes that know only the server's URL and their API token


class Client:
    """A reviewer's HTTP client that retries through server restarts, and a journal of every answer it got."""

    def __init__(self, url: str, token: str, journal: Path, rng: random.Random) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.journal = journal.open("a", encoding="utf-8")
        self.rng = rng

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int | None, dict[str, Any], int]:
        """(status, body, attempts): the same request sent again, with a growing pause, while the connection fails
        or the server answers 5xx; status None when it never got an answer within GIVE_UP seconds."""
        started, pause, attempts = time.monotonic(), 0.05, 0
        while True:
            attempts += 1
            try:
                response = self.http.post(path, json=body)
                if response.status_code < 500:
                    return response.status_code, response.json() if response.content else {}, attempts
            except httpx.TransportError:
                pass
            if time.monotonic() - started > GIVE_UP:
                return None, {}, attempts
            time.sleep(pause * self.rng.uniform(0.5, 1.5))
            pause = min(pause * 2, 1.0)

    def note(self, **entry: Any) -> None:
        self.journal.write(json.dumps(entry) + "\n")
        self.journal.flush()

    def lease_call(self, op: str, task: int, token: int, **extra: Any) -> int | None:
        """Heartbeat, release or submit on a lease; journalled with what the reviewer knew (``stale``: why it
        expected a refusal). Returns the status."""
        body = {"token": token, **{k: v for k, v in extra.items() if k in ("label", "comment")}}
        status, answer, attempts = self.post(f"/api/v1/tasks/{task}/{op}", body)
        replayed = bool(answer.get("decision", {}).get("replayed")) if status == 200 else False
        why = answer.get("error", {}).get("message") if status == 409 else None
        self.note(op=op, task=task, token=token, status=status, attempts=attempts, replayed=replayed, why=why, **extra)
        return status


def work(
    name: str,
    token: str,
    url: str,
    lease_ttl: float,
    seconds: float,
    journal: Path,
    seed: float,
    *,
    ready: Any,
    go: Any,
) -> None:
    """One reviewer: claim, then submit, heartbeat, release or misbehave, until ``seconds`` have passed."""
    rng = random.Random(seed)
    client = Client(url, token, journal, rng)
    ready.release()
    go.wait()
    deadline = time.monotonic() + seconds
    released: list[tuple[int, int]] = []
    while time.monotonic() < deadline:
        status, body, attempts = client.post("/api/v1/tasks/claim")
        if status != 200:  # 204: nothing open now; 429: leases of claims whose answer was lost still held
            client.note(op="claim", status=status, attempts=attempts)
            time.sleep(0.2)
            continue
        task, lease = body["task"]["id"], body["lease"]["token"]
        client.note(op="claim", status=status, attempts=attempts, task=task, token=lease)
        label = rng.choice(LABELS)
        answer = {"label": label, "comment": f"{name}/{task}/{lease}"}
        roll = rng.random()
        if roll < STALL:
            time.sleep(lease_ttl + 0.5)
            client.lease_call("submit", task, lease, stale=EXPIRED, **answer)
        elif roll < STALL + RELEASE:
            if client.lease_call("release", task, lease) == 200:
                released.append((task, lease))
        else:
            if rng.random() < HEARTBEAT and client.lease_call("heartbeat", task, lease) == 409:
                client.lease_call("submit", task, lease, stale=BEAT_REFUSED, **answer)
                continue
            if client.lease_call("submit", task, lease, **answer) == 200 and rng.random() < AGAIN:
                other = {"label": LABELS[1 - LABELS.index(label)], "comment": f"{name}/{task}/{lease} again"}
                client.lease_call("submit", task, lease, stale=SECOND, **other)
        if released and rng.random() < OLD_TOKEN:
            old_task, old_lease = released.pop(rng.randrange(len(released)))
            old = {"label": label, "comment": f"{name}/{old_task}/{old_lease} released"}
            client.lease_call("submit", old_task, old_lease, stale=RELEASED, **old)


# ---------------------------------------------------------------------------------------------------------------
# The run


@dataclass
class Run:
    backend: str
    tasks: int
    reviewers: int
    seconds: float = 0.0
    events: list[str] = field(default_factory=list)  # KILL or RESTART, in order
    downtime: list[float] = field(default_factory=list)  # seconds until the server or PostgreSQL was back
    verified: list[bool] = field(default_factory=list)  # `signoff audit verify` after each restart and at the end
    verify_output: list[str] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    reviewer_exits: dict[str, int | None] = field(default_factory=dict)
    swept: int = 0
    sweep_refused: int = 0  # the sweeper's submits refused because its own lease ran out
    store: dict[str, Any] = field(default_factory=dict)


def restart_postgres() -> None:
    """Restart the local PostgreSQL cluster: every user's connections to it are cut."""
    (version,) = (path.name for path in Path("/etc/postgresql").iterdir())
    subprocess.run(  # noqa: S603  # a fixed command; the version is the folder's name
        ["/usr/bin/pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


def disrupt(run: Run, event: str, server: ServerProcess) -> None:
    """Kill the server with SIGKILL and start it again, or restart PostgreSQL under it."""
    started = time.monotonic()
    if event == KILL:
        server.kill()
        server.start()
    else:
        restart_postgres()
    run.events.append(event)
    run.downtime.append(time.monotonic() - started)


def verify(run: Run, project: Path, env: dict[str, str]) -> None:
    done = signoff("audit", "verify", "-p", str(project), env=env)
    run.verified.append(done.returncode == 0 and "Audit chain intact" in done.stdout)
    run.verify_output.append((done.stdout + done.stderr).strip())


def chaos(args: argparse.Namespace, backend: str, rng: random.Random) -> Run:
    """One run on one database: queue, serve, review through the disruptions, sweep, read the store."""
    run = Run(backend, args.tasks, args.reviewers)
    with (
        tempfile.TemporaryDirectory(prefix="signoff-chaos-") as name,
        database(backend, Path(name), args.postgres_url, "chaos") as url,
    ):
        folder = Path(name)
        project, tokens, sweeper = prepare(url, folder, args)
        env = environment()
        server = ServerProcess(project.path, env, folder / "serve.log")
        spawn = multiprocessing.get_context("spawn")
        ready, go = spawn.Semaphore(0), spawn.Event()
        team = [
            spawn.Process(
                target=work,
                args=(who, token, server.url, args.lease_ttl, args.seconds, folder / f"{who}.jsonl", rng.random()),
                kwargs={"ready": ready, "go": go},
                name=who,
            )
            for who, token in tokens.items()
        ]
        events = [KILL] * args.kills + [RESTART] * (args.restart_postgres if backend == "postgresql" else 0)
        rng.shuffle(events)
        moments = sorted(rng.uniform(0.1, 0.85) * args.seconds for _ in events)
        try:
            server.start()
            for process in team:
                process.start()
            for _ in team:  # they start together, once all have imported what they need
                if not ready.acquire(timeout=120):
                    raise RuntimeError("a reviewer process did not start within 120 s")
            go.set()
            began = time.monotonic()
            for event, moment in zip(events, moments, strict=True):
                time.sleep(max(0.0, began + moment - time.monotonic()))
                disrupt(run, event, server)
                console.print(
                    f"{backend}: {time.monotonic() - began:5.1f} s: {event}, back in {run.downtime[-1]:.1f} s"
                )
                verify(run, project.path, env)
            with console.status(f"{backend}: reviewers working until {args.seconds:g} s..."):
                for process in team:
                    process.join(timeout=args.seconds + GIVE_UP + 60)
            run.seconds = time.monotonic() - began
            run.reviewer_exits = {process.name: process.exitcode for process in team}
            time.sleep(args.lease_ttl + 1)  # every lease left behind has expired
            run.swept, run.sweep_refused = sweep(url, project, sweeper)
            server.stop()  # its last seal
            verify(run, project.path, env)
            run.store = read_store(url)
        finally:
            for process in team:
                if process.is_alive():
                    process.kill()
            server.kill()
        for path in sorted(folder.glob("*.jsonl")):
            lines = path.read_text(encoding="utf-8").splitlines()
            run.journal.extend({**json.loads(line), "reviewer": path.stem} for line in lines)
    return run


def prepare(url: str, folder: Path, args: argparse.Namespace) -> tuple[Project, dict[str, str], User]:
    """The schema, ``args.tasks`` cases queued for review, the reviewers' API tokens by name, and the sweeper."""
    db = Database(url)
    migrate.upgrade(db)
    with console.status(f"queueing {args.tasks:,} cases for review..."):
        project = queued(db, folder, args.tasks, queues={"default": {"role": "reviewer", "lease_ttl": args.lease_ttl}})
    tokens = {
        f"reviewer-{i}": users.create_user(db, f"reviewer-{i}", Role.REVIEWER, "chaos")[1]
        for i in range(args.reviewers)
    }
    sweeper = users.create_user(db, "sweeper", Role.REVIEWER, "chaos")[0]
    db.dispose()
    return project, tokens, sweeper


def sweep(url: str, project: Project, sweeper: User) -> tuple[int, int]:
    """Claim and complete every task still open, through the same service calls as the server: (completed,
    refused). A submit is refused when the sweeper's own lease ran out first (a slow commit on a loaded machine
    eats into a 5 s lease); the task is then open again and claimed anew."""
    db = Database(url)
    done = refused = 0
    while (got := review.claim(db, project, sweeper)) is not None:
        try:
            review.submit(db, project, sweeper, got.task_id, got.token, LABELS[0], "sweep")
            done += 1
        except Conflict:
            refused += 1
            if refused > 100:
                raise
    db.dispose()
    return done, refused


# ---------------------------------------------------------------------------------------------------------------
# What the store holds


def read_store(url: str) -> dict[str, Any]:
    db = Database(url)
    with db.transaction(write=False) as conn:
        found = {
            "tasks": [
                r._asdict()
                for r in conn.execute(select(tasks.c.id, tasks.c.case_id, tasks.c.status, tasks.c.lease_token))
            ],
            "cases": [r._asdict() for r in conn.execute(select(cases.c.id, cases.c.status))],
            "reviews": [
                r._asdict()
                for r in conn.execute(
                    select(
                        reviews.c.id,
                        reviews.c.task_id,
                        reviews.c.case_id,
                        reviews.c.lease_token,
                        reviews.c.label,
                        reviews.c.comment,
                        reviews.c.created_at,
                        reviews.c.reviewer_id,
                        user_rows.c.name.label("reviewer"),
                    ).join(user_rows, user_rows.c.id == reviews.c.reviewer_id)
                )
            ],
            "leases": [r._asdict() for r in conn.execute(select(leases).order_by(leases.c.task_id, leases.c.token))],
            "decisions": [
                r._asdict() for r in conn.execute(select(decisions.c.case_id, decisions.c.label, decisions.c.review_id))
            ],
            "events": [
                r._asdict()
                for r in conn.execute(
                    select(audit_events.c.action, audit_events.c.entity_id, audit_events.c.data).where(
                        audit_events.c.action.in_(
                            ["task.claimed", "review.submitted", "case.decided", "task.released", "lease.extended"]
                        )
                    )
                )
            ],
            "event_count": conn.execute(select(func.count()).select_from(audit_events)).scalar_one(),
            "seal_count": conn.execute(select(func.count()).select_from(audit_seals)).scalar_one(),
        }
    db.dispose()
    return found


def key(entry: dict[str, Any]) -> tuple[int, int, str, str, str]:
    """What identifies a submit, in the journal and in the store alike."""
    return entry["task"], entry["token"], entry["reviewer"], entry["label"], entry["comment"]


@dataclass
class Check:
    """One invariant and what broke it (nothing, when it held)."""

    name: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(run: Run) -> list[Check]:
    """The invariants, each with what broke it."""
    store = run.store
    submits = [e for e in run.journal if e["op"] == "submit"]
    stored = {(r["task_id"], r["lease_token"], r["reviewer"], r["label"], r["comment"]) for r in store["reviews"]}

    lost = [f"submit {key(e)} answered 200, not stored" for e in submits if e["status"] == 200 and key(e) not in stored]
    lost += [f"task {t['id']} is {t['status']} after the sweep" for t in store["tasks"] if t["status"] != "done"]
    lost += [f"case {c['id']} is {c['status']} after the sweep" for c in store["cases"] if c["status"] != "decided"]

    per_task = Counter(r["task_id"] for r in store["reviews"])
    decided = Counter(e["entity_id"] for e in store["events"] if e["action"] == "case.decided")
    double = [f"task {t} has {n} reviews" for t, n in per_task.items() if n > 1]
    double += [f"case {c} decided {n} times" for c, n in decided.items() if n > 1]
    double += overlapping_leases(store["leases"])
    stale = [f"{e['stale']}: {key(e)} answered 200" for e in submits if e.get("stale") and e["status"] == 200]
    stale += stale_reviews(store)
    refused = [
        f"submit {key(e)} answered {e['status']}, yet stored"
        for e in submits
        if e["status"] is not None and 400 <= e["status"] < 500 and key(e) in stored
    ]
    audit = audit_mismatches(run)
    chain = [
        f"verify {i + 1}: {out}"
        for i, (ok, out) in enumerate(zip(run.verified, run.verify_output, strict=True))
        if not ok
    ]
    if store["seal_count"] != store["event_count"]:
        chain.append(f"{store['event_count'] - store['seal_count']} events unsealed after the server stopped")
    crashed = [f"{name} exited with {code}" for name, code in run.reviewer_exits.items() if code != 0]
    return [
        Check("lost (acknowledged review missing, task or case not completed)", lost),
        Check("double (second review, decision or overlapping lease)", double),
        Check("stale accepted (on a dead lease)", stale),
        Check("refused yet stored", refused),
        Check("audit counts differing from the state", audit),
        Check("chain not intact (verify after each restart and at the end)", chain),
        Check("reviewer processes that failed", crashed),
    ]


def overlapping_leases(rows: list[dict[str, Any]]) -> list[str]:
    """Each lease of a task must have ended, by release or expiry, before the next one was granted."""
    found = []
    by_task: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task_id"]].append(row)
    for task, held in by_task.items():
        for before, after in itertools.pairwise(held):
            if before["end_reason"] not in ("released", "expired"):
                found.append(
                    f"task {task}: lease {before['token']} ended {before['end_reason']}, yet {after['token']} followed"
                )
            free = before["ended_at"] if before["end_reason"] == "released" else before["expires_at"]
            if free is None or after["acquired_at"] < free:
                found.append(f"task {task}: lease {after['token']} granted at {after['acquired_at']}, {free=}")
    return found


def stale_reviews(store: dict[str, Any]) -> list[str]:
    """A review must be written on its task's last lease, by that lease's holder, before the lease expired."""
    held = {(r["task_id"], r["token"]): r for r in store["leases"]}
    last = {t["id"]: t["lease_token"] for t in store["tasks"]}
    found = []
    for review_row in store["reviews"]:
        lease = held.get((review_row["task_id"], review_row["lease_token"]))
        where = f"review {review_row['id']} (task {review_row['task_id']}, token {review_row['lease_token']})"
        if lease is None:
            found.append(f"{where}: no such lease")
        elif lease["reviewer_id"] != review_row["reviewer_id"] or lease["end_reason"] != "submitted":
            found.append(f"{where}: lease held by {lease['reviewer_id']}, ended {lease['end_reason']}")
        elif review_row["created_at"] >= lease["expires_at"]:
            found.append(f"{where}: written at {review_row['created_at']}, lease expired at {lease['expires_at']}")
        elif last[review_row["task_id"]] != review_row["lease_token"]:
            found.append(f"{where}: the task's last lease is {last[review_row['task_id']]}")
    return found


def audit_mismatches(run: Run) -> list[str]:
    store = run.store
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in store["events"]:
        events[event["action"]].append(event)
    found = []

    def compare(what: str, from_events: Counter[Any], from_state: Counter[Any]) -> None:
        if from_events != from_state:
            extra, missing = from_events - from_state, from_state - from_events
            found.append(
                f"{what}: {sum(extra.values())} events without a state change (e.g. {list(extra)[:3]}), "
                f"{sum(missing.values())} state changes without an event (e.g. {list(missing)[:3]})"
            )

    compare(
        "task.claimed / leases",
        Counter((int(e["entity_id"]), e["data"]["token"]) for e in events["task.claimed"]),
        Counter((r["task_id"], r["token"]) for r in store["leases"]),
    )
    compare(
        "review.submitted / reviews",
        Counter(e["data"]["review_id"] for e in events["review.submitted"]),
        Counter(r["id"] for r in store["reviews"]),
    )
    compare(
        "case.decided / decisions",
        Counter((int(e["entity_id"]), e["data"]["review_id"], e["data"]["label"]) for e in events["case.decided"]),
        Counter((d["case_id"], d["review_id"], d["label"]) for d in store["decisions"]),
    )
    compare(
        "task.released / leases ended by release",
        Counter((int(e["entity_id"]), e["data"]["token"]) for e in events["task.released"]),
        Counter((r["task_id"], r["token"]) for r in store["leases"] if r["end_reason"] == "released"),
    )
    beats = [e for e in run.journal if e["op"] == "heartbeat"]
    least = sum(1 for e in beats if e["status"] == 200)
    most = sum(e["attempts"] for e in beats if e["status"] in (200, None))
    if not least <= len(events["lease.extended"]) <= most:
        found.append(
            f"lease.extended: {len(events['lease.extended'])} events, heartbeats accepted {least}, at most {most}"
        )
    return found


# ---------------------------------------------------------------------------------------------------------------
# Report


def facts(run: Run) -> dict[str, str]:
    journal, store = run.journal, run.store
    ops = Counter(e["op"] for e in journal)

    def answered(op: str, stale: bool | None = None) -> str:
        chosen = [e for e in journal if e["op"] == op and (stale is None or bool(e.get("stale")) == stale)]
        ok = sum(1 for e in chosen if e["status"] is not None and e["status"] < 300)
        refused = sum(1 for e in chosen if e["status"] is not None and e["status"] >= 400)
        unknown = sum(1 for e in chosen if e["status"] is None)
        return f"{len(chosen):,}: {ok:,} / {refused:,} / {unknown:,}"

    ends = Counter(r["end_reason"] or "open" for r in store["leases"])
    why = Counter(e["stale"] for e in journal if e.get("stale"))
    retried = sum(e["attempts"] - 1 for e in journal)
    return {
        "reviewer processes, seconds": f"{run.reviewers}, {run.seconds:.0f} s",
        "tasks": f"{run.tasks:,}",
        "claims granted (lease rows)": f"{len(store['leases']):,}",
        "claims answered to reviewers": f"{sum(1 for e in journal if e['op'] == 'claim' and e['status'] == 200):,}",
        "lease ends: submitted / released / expired": " / ".join(f"{ends[k]:,}" for k in LEASE_ENDS),
        "submits: 2xx / 4xx / no answer": answered("submit", stale=False),
        "  of which replayed after a lost answer": f"{sum(1 for e in journal if e.get('replayed')):,}",
        "submits on a lease known dead: 2xx / 4xx / no answer": answered("submit", stale=True),
        "  why dead: " + " / ".join(STALE): " / ".join(f"{why[k]:,}" for k in STALE),
        "409 refusals: " + " / ".join(REFUSALS): " / ".join(
            f"{sum(1 for e in journal if e.get('why') and words in e['why']):,}" for words in REFUSALS.values()
        ),
        "heartbeats: 2xx / 4xx / no answer": answered("heartbeat"),
        "releases: 2xx / 4xx / no answer": answered("release"),
        "requests sent again (dropped or 5xx)": f"{retried:,} over {sum(ops.values()):,} calls",
        "server SIGKILLs (back in, s)": outages(run, KILL),
        "PostgreSQL restarts (back in, s)": outages(run, RESTART),
        "audit verify runs intact": f"{sum(run.verified)} / {len(run.verified)}",
        "completed by the sweep (submits refused: lease ran out)": f"{run.swept:,} ({run.sweep_refused})",
        "audit events, all sealed": f"{store['event_count']:,}, {store['seal_count'] == store['event_count']}",
    }


def outages(run: Run, kind: str) -> str:
    took = [f"{s:.1f}" for event, s in zip(run.events, run.downtime, strict=True) if event == kind]
    return f"{len(took)} ({', '.join(took)})" if took else "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--reviewers", type=int, default=8, help="reviewer processes")
    parser.add_argument("--kills", type=int, default=5, help="server SIGKILLs during the run")
    parser.add_argument(
        "--restart-postgres",
        type=int,
        default=1,
        metavar="N",
        help="PostgreSQL restarts during the run on the postgresql backend (0: none). It cuts the connections of "
        "every user of that PostgreSQL server for a second or two.",
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the reviewers work, per database")
    parser.add_argument("--tasks", type=int, default=6_000)
    parser.add_argument("--lease-ttl", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=None, help="the schedule's and reviewers' random choices")
    parser.add_argument("--postgres-url", default=os.environ.get("SIGNOFF_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    console.print(f"seed {seed}")
    rng = random.Random(seed)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs = [chaos(args, backend, rng) for backend in backends]
    table = Table("", *backends, title=f"Lease chaos (seed {seed})")
    for name in facts(runs[0]):
        table.add_row(name, *(facts(run)[name] for run in runs))
    results = [check(run) for run in runs]
    for i, item in enumerate(results[0]):
        table.add_row(
            f"[bold]{item.name}[/]",
            *("[green]0[/]" if r[i].ok else f"[red]{len(r[i].problems)}[/]" for r in results),
        )
    console.print(table)
    failed = False
    for run, checks in zip(runs, results, strict=True):
        for item in checks:
            if not item.ok:
                failed = True
                console.print(f"[red]{run.backend}: {item.name}[/]")
                for line in item.problems[:10]:
                    console.print(f"  {line}", markup=False)
    console.print("[red]An invariant failed.[/]" if failed else "[green]Every invariant held.[/]")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
