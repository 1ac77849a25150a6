"""The joins that many reads share, each written once: a review with its task, and a case with the route it was
given and the prediction that route acted on (one of each per case)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, Join

from signoff.store.schema import predictions, reviews, routes, tasks


def reviews_with_task() -> Join:
    """Reviews with the task each answered."""
    return reviews.join(tasks, tasks.c.id == reviews.c.task_id)


def routed(source: FromClause, case_id: ColumnElement[Any]) -> Join:
    """``source`` (a table or join whose ``case_id`` column is given) with its case's route and the prediction
    that route acted on."""
    return source.join(routes, routes.c.case_id == case_id).join(
        predictions, predictions.c.id == routes.c.prediction_id
    )
