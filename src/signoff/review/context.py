"""What the review workspace reads beside a claimed task, so that the web UI reads it through the review layer
and never the store: the recent cases that explain a model's score, the answers an adjudicator settles, and the
earlier cases about the same entity."""

from __future__ import annotations

from dataclasses import dataclass

from signoff.config import Flow
from signoff.domain import Fields, TaskKind
from signoff.store import cases as case_store
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.records import Case, Claim, EarlierCase


@dataclass(frozen=True)
class Answer:
    """A review an adjudicator settles, with who gave it."""

    reviewer: str
    label: str
    comment: str


@dataclass(frozen=True)
class Beside:
    """``answers``: the reviews an adjudicator settles (empty for any other task). ``history``: the latest earlier
    cases about the same entity, newest first, each with its decision."""

    answers: list[Answer]
    history: list[EarlierCase]


def recent_fields(db: Database, flow: str, limit: int) -> list[Fields]:
    """The fields of the flow's latest cases, newest first: the sample of typical values."""
    with db.transaction(write=False) as conn:
        return case_store.recent_fields(conn, flow, limit)


def beside(db: Database, flow: Flow, claim: Claim, record: Case, limit: int) -> Beside:
    """What is shown beside ``claim``, whose case (as its reviewer may see it) is ``record``."""
    with db.transaction(write=False) as conn:
        answers = []
        if claim.kind is TaskKind.ADJUDICATION:
            names = user_store.names_by_id(conn, [review.reviewer_id for review in record.reviews])
            answers = [Answer(names[r.reviewer_id], r.label, r.comment) for r in record.reviews]
        entity = record.entity
        history = (
            []
            if flow.entity is None or entity is None
            else case_store.earlier_on_entity(conn, flow.name, entity, claim.case_id, limit)
        )
    return Beside(answers, history)
