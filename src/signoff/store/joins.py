"""The joins and columns that many reads share, each written once: a review with its task (and its reviewer), a
case with the route it was given and the prediction that route acted on (one of each per case), and the names
under which the records read a reviewer, the model's label and a case's decision."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, Join

from signoff.store.schema import decisions, predictions, reviews, routes, tasks, users

# A review as the evidence reads it: which case, whose answer, on which task (its flow, kind and queue), the label
# and when it was given. Reads that want fewer columns take the same; a row's unused columns cost nothing.
ANSWER = (
    reviews.c.id,
    reviews.c.case_id,
    reviews.c.reviewer_id,
    tasks.c.flow,
    tasks.c.kind,
    tasks.c.queue,
    reviews.c.label,
    reviews.c.created_at,
)
REVIEWER = users.c.name.label("reviewer")  # with ``reviews_with_reviewer``
MODEL_LABEL = predictions.c.label.label("model_label")  # with ``routed``: the label the route acted on
DECISION = decisions.c.label.label("decision")  # a case's final label (outer-joined: None while undecided)


def reviews_with_task() -> Join:
    """Reviews with the task each answered."""
    return reviews.join(tasks, tasks.c.id == reviews.c.task_id)


def reviews_with_reviewer() -> Join:
    """Reviews with the task each answered and the user who gave it (``REVIEWER``)."""
    return reviews_with_task().join(users, users.c.id == reviews.c.reviewer_id)


def routed(source: FromClause, case_id: ColumnElement[Any]) -> Join:
    """``source`` (a table or join whose ``case_id`` column is given) with its case's route and the prediction
    that route acted on."""
    return source.join(routes, routes.c.case_id == case_id).join(
        predictions, predictions.c.id == routes.c.prediction_id
    )
