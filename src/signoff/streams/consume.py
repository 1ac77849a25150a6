"""Consume a flow's cases from a broker in windows, and publish its decisions to the reply queue.

A window is the messages that arrived while the previous one was being written (at most ``window`` of them, and
no more than ``linger`` seconds of waiting for a first few): one intake batch, one transaction, then every message
of it acknowledged. A process killed before the acknowledgements leaves its messages to be redelivered, and
their external ids make the second submission a replay (``intake.submit``). A message without an external id is
keyed by the id the broker gives it, which its redeliveries keep.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio.to_thread

from signoff import audit
from signoff.config import Project
from signoff.errors import IdempotencyConflict, InvalidInput
from signoff.inputs.validation import CaseInput, Entry, validate_batch, validate_case
from signoff.intake.runtime import FlowRuntime, refresh
from signoff.intake.service import submit
from signoff.store import audit as audit_store
from signoff.store import cases as case_store
from signoff.store import webhooks as cursors
from signoff.store.database import Database
from signoff.streams.brokers import Delivery, Link

log = logging.getLogger(__name__)

SHAPE = 'must be a JSON object {"external_id": "...", "fields": {...}}'
HOLD = timedelta(seconds=60)  # how long one consumer owns the publishing of decisions before another may take it
RETRY = 1.0  # seconds before a window whose write failed (the database away) is tried again


@dataclass
class Consumer:
    """A flow's consumer: ``window`` messages at most per intake batch; decisions published every ``publish_every``
    seconds through the delivery cursor named after the reply queue."""

    db: Database
    project: Project
    runtime: FlowRuntime
    link: Link
    actor: str
    window: int = 500
    linger: float = 0.05
    publish_every: float = 0.2
    taken: int = 0
    dead: int = 0
    published: int = 0
    _arrived: asyncio.Queue[Delivery] = field(init=False)

    @property
    def flow(self) -> str:
        return self.runtime.flow.name

    @property
    def cursor(self) -> str:
        """The delivery cursor's name: the reply queue's, hashed when it is longer than a cursor name may be."""
        name = f"broker:{self.link.names.decisions}"
        return name if len(name) <= 63 else f"broker:{hashlib.sha256(name.encode()).hexdigest()[:56]}"

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then finish the window in hand and its acknowledgements."""
        self._arrived = asyncio.Queue(maxsize=self.window)
        await anyio.to_thread.run_sync(self._ensure_cursor)
        await self.link.start(self._arrive, self.window)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._intake(stop))
                tasks.create_task(self._decisions(stop))
        finally:
            await self.link.stop()

    async def _arrive(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:  # waits while a whole window is already waiting: the broker holds the rest
            await self._arrived.put(delivery)

    async def _intake(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            messages = await self._gather(stop)
            while messages:
                try:
                    dead = await anyio.to_thread.run_sync(self._write, messages)
                except Exception:  # the database away: keep the messages (unacknowledged) and try again
                    log.exception("consume %s: writing a window of %d failed; retrying", self.flow, len(messages))
                    await asyncio.sleep(RETRY)
                    continue
                await self._settle(messages, dead)
                messages = []

    async def _gather(self, stop: asyncio.Event) -> list[Delivery]:
        """The next window: wait for a first message, then take what arrives within ``linger``."""
        try:
            first = await asyncio.wait_for(self._arrived.get(), timeout=0.2)
        except TimeoutError:
            return []
        messages = [first]
        deadline = asyncio.get_running_loop().time() + self.linger
        while len(messages) < self.window and not stop.is_set():
            if self._arrived.empty():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    messages.append(await asyncio.wait_for(self._arrived.get(), timeout=left))
                except TimeoutError:
                    break
            else:
                messages.append(self._arrived.get_nowait())
        return messages

    async def _settle(self, messages: list[Delivery], dead: dict[int, str]) -> None:
        """After the commit: dead letters published (the broker keeps them), then every message acknowledged."""
        letters = [self._letter(messages[index], error) for index, error in dead.items()]
        if letters:
            await self.link.publish(
                [body for body, _ in letters], self.link.names.dead, [f"dead:{k}" for _, k in letters]
            )
        await self.link.ack(messages)
        self.taken += len(messages) - len(dead)
        self.dead += len(dead)

    def _letter(self, message: Delivery, error: str) -> tuple[bytes, str]:
        """The dead letter of a message: its error and its body, whole (as base64 if it is not UTF-8)."""
        key = message.key or hashlib.sha256(message.body).hexdigest()
        letter: dict[str, Any] = {"flow": self.flow, "queue": self.link.names.cases, "message": key, "error": error}
        try:
            letter["body"] = message.body.decode()
        except UnicodeDecodeError:
            letter["body_base64"] = base64.b64encode(message.body).decode()
        return json.dumps(letter).encode(), key

    def _write(self, messages: Sequence[Delivery]) -> dict[int, str]:
        """Validate and submit a window in one batch; the errors of the messages that cannot become cases."""
        dead: dict[int, str] = {}
        entries: list[tuple[int, Entry]] = []
        for index, message in enumerate(messages):
            key = message.key
            try:
                body = json.loads(message.body)
            except ValueError as error:
                dead[index] = f"message {key}: not JSON ({error}); it {SHAPE}"
                continue
            if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
                dead[index] = f"message {key}: {SHAPE}"
                continue
            external = body.get("external_id")
            external = key if external is None else external
            if external is None:
                dead[index] = f"message {key}: has no external_id, and the broker gives it no message id to key it by"
                continue
            entries.append((index, Entry(f"message {key}", external, body["fields"])))
        cases = self._valid(entries, dead)
        current = {self.flow: self.runtime}
        refresh(self.db, current)  # a long run takes in the reviews and the champion of meanwhile, as a server does
        self.runtime = current[self.flow]
        while cases:
            try:
                submit(self.db, self.runtime, [case for _index, case in cases], self.actor)
                break
            except IdempotencyConflict as conflict:  # that id was used with another payload: those messages are dead
                dead |= {i: str(conflict) for i, case in cases if case.external_id == conflict.external_id}
                cases = [(i, case) for i, case in cases if case.external_id != conflict.external_id]
        return dead

    def _valid(self, entries: list[tuple[int, Entry]], dead: dict[int, str]) -> list[tuple[int, CaseInput]]:
        """The window's cases, validated together; when some are invalid, each is validated alone to find which."""
        try:
            valid = validate_batch(self.runtime.flow, [[entry for _index, entry in entries]], "").cases
            return [(index, case) for (index, _entry), case in zip(entries, valid, strict=True)]
        except InvalidInput:
            pass
        cases: list[tuple[int, CaseInput]] = []
        for index, entry in entries:
            case, problems = validate_case(self.runtime.flow, entry.external_id, entry.fields, entry.location)
            if case is None:
                dead[index] = str(InvalidInput(problems, "invalid case"))
            else:
                cases.append((index, case))
        return cases

    def _ensure_cursor(self) -> None:
        """Decisions are published from the events sealed after the first start of a consumer of this reply queue."""
        with self.db.transaction() as conn:
            cursors.ensure(conn, self.cursor, audit_store.last_seq(conn), self.db.now(conn))

    async def _decisions(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await self._publish_decisions()
            except Exception:  # the broker or the database away: the cursor stays, the next pass retries
                log.exception("consume %s: publishing decisions failed; retrying", self.flow)
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.publish_every)

    async def _publish_decisions(self) -> None:
        """One pass: seal, take the cursor, publish the decisions of this flow sealed after it, move it on."""
        taken = await anyio.to_thread.run_sync(self._next_decisions)
        if taken is None:
            return
        through, decisions = taken
        try:
            bodies = [json.dumps(d).encode() for d in decisions]
            await self.link.publish(bodies, self.link.names.decisions, [d["id"] for d in decisions])
        except Exception:
            await anyio.to_thread.run_sync(self._failed)
            raise
        await anyio.to_thread.run_sync(self._delivered, through)
        self.published += len(decisions)

    def _next_decisions(self) -> tuple[int, list[dict[str, Any]]] | None:
        audit.seal(self.db)
        with self.db.transaction() as conn:
            cursor = cursors.take(conn, self.cursor, self.db.now(conn), HOLD)
        if cursor is None:
            return None  # another consumer of this flow is publishing
        with self.db.transaction(write=False) as conn:
            rows = audit_store.sealed_after(conn, cursor.logged_seq, 2000)
            decisions = [d for row in rows if (d := self._decision(conn, row)) is not None]
        return (rows[-1].seq if rows else cursor.logged_seq), decisions

    def _decision(self, conn: Any, row: Any) -> dict[str, Any] | None:
        """The message of a decision event of this flow: the model's at intake, or a later one (a review's)."""
        if row.action == "case.submitted" and row.data.get("flow") == self.flow and "decision" in row.data:
            external, decision = row.data["external_id"], row.data["decision"]
        elif row.action == "case.decided":
            case = case_store.case_record(conn, int(row.entity_id))
            if case is None or case.flow != self.flow:
                return None
            external, decision = case.external_id, row.data
        else:
            return None
        return {
            "id": f"signoff-event-{row.id}",
            "seq": row.seq,
            "flow": self.flow,
            "case_id": int(row.entity_id),
            "external_id": external,
            "label": decision["label"],
            "decided_by": decision["decided_by"],
            "decided_at": row.at.isoformat(),
        }

    def _delivered(self, through: int) -> None:
        with self.db.transaction() as conn:
            cursors.release(conn, self.cursor, self.db.now(conn), through)

    def _failed(self) -> None:
        """The cursor stays and is released: the next pass, of this consumer or another, publishes again."""
        with self.db.transaction() as conn:
            cursors.release(conn, self.cursor, self.db.now(conn))
