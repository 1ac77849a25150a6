"""Label validation on a data set built through the services with known conflicts of every kind: each is found
with its kind, re-checking records nothing twice, and a conflicted case is never trained on until resolved."""

from __future__ import annotations

import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from helpers.builders import flow_document, make_project
from helpers.queues import reviewer
from signoff import intake, review
from signoff.domain import CaseId, LabelSource, Role, User
from signoff.errors import Conflict, InvalidInput, NotFound
from signoff.learning import labels, outcomes
from signoff.learning.labels import ConflictKind
from signoff.learning.outcomes import OutcomeIn
from signoff.store.database import Database
from signoff.store.schema import audit_events, label_conflicts


class _Draw(random.Random):
    """Decides whether a claim is served a gold task: 0.0 always (the queue's rate is 0.5), 0.99 never."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


GOLD, NO_GOLD = _Draw(0.0), _Draw(0.99)


class Floor:
    def __init__(self, db: Database, tmp_path: Path) -> None:
        queues: dict[str, Any] = {
            "default": {
                "consensus": {"reviews": 3, "agreement": "majority", "adjudicate_in": "senior"},
                "gold": {"rate": 0.5, "min_accuracy": 0.9, "min_answers": 2},
            },
            "senior": {"role": "admin"},
        }
        self.db = db
        flows = {"test-flow": flow_document(queues=queues, audit={"rate": 1.0}), "other-flow": flow_document()}
        self.project = make_project(tmp_path, db.url, flows=flows)
        self.runtime = intake.prepare(db, self.project)["test-flow"]
        self.flow = self.runtime.flow
        self.people = {name: reviewer(db, name) for name in ("alice", "bob", "carol", "dave")}
        self.people["boss"] = reviewer(db, "boss", Role.ADMIN)

    def case(self, score: float, flow: str = "test-flow") -> CaseId:
        runtime = intake.prepare(self.db, self.project)[flow] if flow != self.flow.name else self.runtime
        found, problems = intake.validate_case(runtime.flow, None, {"score": score, "group": "a"}, "case")
        assert found is not None, problems
        (submitted,) = intake.submit(self.db, runtime, [found], "tester")
        return CaseId(submitted.case_id)

    def answer(self, name: str, label: str, *, case: int | None = None, gold: bool = False) -> int:
        person: User = self.people[name]
        got = review.claim(self.db, self.project, person, rng=GOLD if gold else NO_GOLD)
        assert got is not None, f"{name} got no task"
        assert gold == (got.kind == "gold"), got
        assert case is None or got.case_id == case, (got, case)
        review.submit(self.db, self.project, person, got.task_id, got.token, label)
        return got.case_id

    def reviewed(self, answers: dict[str, str]) -> CaseId:
        case_id = self.case(0.5)
        for name, label in answers.items():
            self.answer(name, label, case=case_id)
        return case_id

    def outcome(self, case_id: int, label: str, source: str | None = None) -> None:
        values = {"case_id": case_id, "label": label} | ({} if source is None else {"source": source})
        (recorded,) = outcomes.record(self.db, self.flow, [OutcomeIn("outcome", values)], "bureau-feed")
        assert recorded.created

    def labels(self, until: datetime | None = None) -> dict[int, tuple[str, LabelSource, float | None]]:
        with self.db.transaction(write=False) as conn:
            found = labels.training_labels(conn, self.flow.name, until=until or self.db.now(conn))
        return {int(x.case_id): (x.label, x.source, x.inclusion_probability) for x in found}

    def now(self) -> datetime:
        """A time strictly after what was recorded before and strictly before what is recorded after."""
        time.sleep(0.01)
        with self.db.transaction(write=False) as conn:
            now = self.db.now(conn)
        time.sleep(0.01)
        return now


def test_every_kind_of_conflict_is_found_and_a_conflicted_case_is_never_trained_on_until_resolved(
    db: Database, tmp_path: Path
) -> None:
    floor = Floor(db, tmp_path)
    # Reviewers: a majority of three decides "bad" over carol's "good".
    split = floor.reviewed({"alice": "bad", "bob": "bad", "carol": "good"})
    # Decision against outcome: three reviewers agree on "good"; the loan later goes bad.
    overruled = floor.reviewed({"alice": "good", "bob": "good", "carol": "good"})
    # Paused: dave's answer is part of this consensus; gold tasks pause him afterwards.
    doubted = floor.reviewed({"alice": "good", "bob": "good", "dave": "good"})
    found = [intake.validate_case(floor.flow, None, {"score": 0.9, "group": "b"}, "gold")[0] for _ in range(2)]
    assert intake.add_gold(db, floor.runtime, [c for c in found if c is not None], ["bad", "bad"], "lena") == 2
    agreed = floor.case(0.5)  # open work, so that gold is served
    gold_cases = [floor.answer("dave", "good", gold=True) for _ in range(2)]  # wrong twice: paused
    for name in ("alice", "bob", "carol"):
        floor.answer(name, "good", case=agreed)
    # The random audit sample: alice corrects the model, which is no conflict (the model's guess is not a label).
    audited = floor.case(0.1)
    floor.answer("alice", "bad", case=audited)
    # Cases the model decided, their audit tasks left open.
    two_sources, late_truth, model_only = floor.case(0.1), floor.case(0.1), floor.case(0.1)
    before_outcomes = floor.now()

    floor.outcome(two_sources, "bad", "bureau")
    floor.outcome(two_sources, "good", "court")  # outcomes against outcomes
    floor.outcome(late_truth, "bad")  # the model said good: its error, not a conflict
    floor.outcome(overruled, "bad")
    floor.outcome(agreed, "good")

    expected = {
        (split, ConflictKind.REVIEWERS),
        (overruled, ConflictKind.OUTCOME),
        (doubted, ConflictKind.PAUSED),
        (gold_cases[0], ConflictKind.GOLD),
        (gold_cases[1], ConflictKind.GOLD),
        (two_sources, ConflictKind.OUTCOMES),
    }
    usable = {
        agreed: ("good", LabelSource.OUTCOME, None),  # the outcome beats the consensus
        audited: ("bad", LabelSource.AUDIT, 1.0),  # with the route's inclusion probability
        late_truth: ("bad", LabelSource.OUTCOME, None),
    }
    # Before any check: conflicts nobody recorded yet still keep their cases out of training.
    assert floor.labels() == usable and model_only not in usable  # the model's own guess is no label

    report = labels.check(db, floor.flow, "lena")
    assert {(c.case_id, c.kind) for c in report.new} == expected
    assert {(c.case_id, c.kind) for c in report.open} == expected and report.found == len(expected)
    details = {c.kind: c.details for c in report.new}
    assert details[ConflictKind.REVIEWERS]["decision"] == {"label": "bad", "decided_by": "consensus"}
    assert sorted(a["label"] for a in details[ConflictKind.REVIEWERS]["answers"]) == ["bad", "bad", "good"]
    assert details[ConflictKind.OUTCOME]["human"] == {"label": "good", "decided_by": "consensus"}
    assert [a["reviewer"] for a in details[ConflictKind.PAUSED]["answers"]] == ["dave"]
    assert details[ConflictKind.GOLD]["expected"] == "bad"
    assert {o["source"]: o["label"] for o in details[ConflictKind.OUTCOMES]["outcomes"]} == {
        "bureau": "bad",
        "court": "good",
    }

    again = labels.check(db, floor.flow, "lena")  # idempotent: nothing recorded twice
    assert (again.found, again.new, again.reopened, again.updated) == (len(expected), [], [], [])
    with db.transaction(write=False) as conn:
        assert conn.execute(select(func.count()).select_from(label_conflicts)).scalar_one() == len(expected)
    assert floor.labels() == usable

    floor.outcome(two_sources, "bad", "agency")  # more evidence on a conflict still open: updated in place
    grown = labels.check(db, floor.flow, "lena")
    assert [(c.case_id, len(c.details["outcomes"])) for c in grown.updated] == [(two_sources, 3)]
    assert (grown.new, grown.reopened) == ([], [])

    by_case = {c.case_id: c for c in report.new if c.kind is not ConflictKind.GOLD}
    choices = {split: "good", overruled: "bad", doubted: "good"}
    for case_id, label in choices.items():
        floor_label = labels.resolve(db, floor.flow, by_case[case_id].id, label, "looked at the file", "lena")
        assert (floor_label.resolved_label, floor_label.resolved_by) == (label, "lena")
    after = floor.labels()
    assert two_sources not in after
    assert {c: after[c] for c in choices} == {c: (label, LabelSource.RESOLUTION, None) for c, label in choices.items()}
    labels.resolve(db, floor.flow, by_case[two_sources].id, "bad", "the court ruling came later", "lena")
    assert floor.labels()[two_sources] == ("bad", LabelSource.RESOLUTION, None)
    assert not set(floor.labels()) & set(gold_cases)  # gold is never trained on, resolved or not

    # As of before the outcomes: the outcome conflicts did not exist yet, and the resolutions were not made.
    assert floor.labels(before_outcomes) == {
        overruled: ("good", LabelSource.CONSENSUS, None),
        agreed: ("good", LabelSource.CONSENSUS, None),
        audited: ("bad", LabelSource.AUDIT, 1.0),
    }

    # New evidence after a resolution: out of training at once, and the next check reopens the conflict.
    floor.outcome(overruled, "good", "court")
    assert overruled not in floor.labels()
    reopened = labels.check(db, floor.flow, "lena")
    assert [(c.case_id, c.kind) for c in reopened.reopened] == [(overruled, ConflictKind.OUTCOME)]
    assert [(c.case_id, c.kind) for c in reopened.new] == [(overruled, ConflictKind.OUTCOMES)]

    with db.transaction(write=False) as conn:
        actions = list(conn.execute(select(audit_events.c.action)).scalars())
    assert actions.count("outcome.recorded") == 7
    assert actions.count("label_conflict.updated") == 1
    assert actions.count("label_conflict.found") == len(expected) + 1
    assert actions.count("label_conflict.resolved") == 4
    assert actions.count("label_conflict.reopened") == 1


def test_outcomes_are_checked_whole_and_are_idempotent_by_case_and_source(db: Database, tmp_path: Path) -> None:
    floor = Floor(db, tmp_path)
    mine, theirs, elsewhere = floor.case(0.1), floor.case(0.1), floor.case(0.1, "other-flow")
    bad = [
        OutcomeIn("outcomes[0]", {"case_id": 999_999, "label": "bad"}),
        OutcomeIn("outcomes[1]", {"case_id": mine, "label": "maybe"}),
        OutcomeIn("outcomes[2]", {"case_id": mine, "label": "bad", "observed_at": "yesterday"}),
        OutcomeIn("outcomes[3]", {"external_id": "nobody", "label": "bad"}),
        OutcomeIn("outcomes[4]", {"case_id": mine, "label": "bad", "source": "court"}),
        OutcomeIn("outcomes[5]", {"case_id": elsewhere, "label": "bad"}),
        OutcomeIn("outcomes[6]", {"case_id": mine, "external_id": "c1", "label": "bad"}),
    ]
    with pytest.raises(InvalidInput) as refused:
        outcomes.record(db, floor.flow, bad, "feed")
    assert [p.location for p in refused.value.problems] == [
        "outcomes[1].label",
        "outcomes[2].observed_at",
        "outcomes[6]",
        "outcomes[0].case_id",
        "outcomes[3].external_id",
        "outcomes[5].case_id",
    ]
    first = outcomes.record(db, floor.flow, [OutcomeIn("o", {"case_id": mine, "label": "bad"})], "feed")
    replay = outcomes.record(db, floor.flow, [OutcomeIn("o", {"case_id": mine, "label": "bad"})], "feed")
    assert [o.created for o in first + replay] == [True, False] and first[0].id == replay[0].id
    with pytest.raises(Conflict, match=r"'bad'.*'good'"):
        outcomes.record(
            db,
            floor.flow,
            [OutcomeIn("a", {"case_id": theirs, "label": "bad"}), OutcomeIn("b", {"case_id": mine, "label": "good"})],
            "feed",
        )
    with db.transaction(write=False) as conn:  # the batch with the conflict wrote nothing, not even its good part
        assert conn.execute(select(func.count()).where(audit_events.c.action == "outcome.recorded")).scalar_one() == 1
    with pytest.raises(NotFound):
        labels.resolve(db, floor.flow, 12345, "bad", "why", "lena")
