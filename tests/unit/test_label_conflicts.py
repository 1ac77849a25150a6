"""Label conflicts as those who may not oversee the floor see them: the evidence without the reviewers' names."""

from __future__ import annotations

from datetime import UTC, datetime

from signoff.domain import CaseId
from signoff.learning.labels import ConflictKind, LabelConflict, anonymous


def test_an_anonymous_conflict_keeps_every_label_and_drops_every_name() -> None:
    answers = [
        {"review_id": 1, "reviewer": "alice", "label": "bad", "task": "review"},
        {"review_id": 2, "reviewer": "bob", "label": "good", "task": "review"},
    ]
    details = {"decision": {"label": "bad", "decided_by": "consensus"}, "answers": answers}
    at = datetime(2026, 1, 1, tzinfo=UTC)
    conflict = LabelConflict(7, "f", CaseId(3), ConflictKind.REVIEWERS, details, at, None, None, None, None)
    shown = anonymous(conflict)
    assert shown.details == {
        "decision": {"label": "bad", "decided_by": "consensus"},
        "answers": [
            {"review_id": 1, "label": "bad", "task": "review"},
            {"review_id": 2, "label": "good", "task": "review"},
        ],
    }
    assert conflict.details["answers"][0]["reviewer"] == "alice"  # the recorded one is untouched
    assert (shown.id, shown.kind, shown.case_id) == (7, ConflictKind.REVIEWERS, 3)
