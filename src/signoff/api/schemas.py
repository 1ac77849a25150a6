"""Request and error bodies. Pydantic lives here, at the edge; the services take plain values.

Every text a body carries is a ``Name`` or a ``Text`` (``signoff.text``'s policy) and every id an ``Id``, so bad
text and out-of-range numbers are refused with 422 before anything is written.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from signoff.domain import Id, LeaseToken
from signoff.text import Name, Text


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseIn(_Body):
    # external_id and the field values are checked against the flow and the text policy by intake.validate_case,
    # the one check shared with files and brokers
    external_id: str | None = Field(default=None, description="Your id for the case; makes submission idempotent.")
    fields: dict[str, Any] = Field(description="The case's field values, as the flow's schema declares them.")


class BatchIn(_Body):
    cases: list[CaseIn] = Field(min_length=1)


class ClaimIn(_Body):
    flow: Name | None = None
    queue: Name | None = None


class LeaseIn(_Body):
    token: LeaseToken = Field(description="The fencing token the claim returned.")


class ReviewIn(LeaseIn):
    label: Name
    comment: Text = ""


class SkipIn(LeaseIn):
    reason: Text = Field(description="Why you pass this task on; shown to leads and kept in the audit trail.")
    unsure: bool = Field(default=False, description="True when you looked but could not decide.")


class AssignIn(_Body):
    reviewer: Name | None = Field(description="Who alone may claim the task; null frees it for everyone again.")


class SkillsIn(_Body):
    skills: list[Name] = Field(max_length=100, description="The reviewer's skills; queues may require some.")


class ConflictIn(_Body):
    case_id: Id
    reason: Text = Field(min_length=1, max_length=1000)


class GoldCaseIn(_Body):
    fields: dict[str, Any] = Field(description="The case's field values, as the flow's schema declares them.")
    label: Name = Field(description="The known answer.")


class GoldIn(_Body):
    cases: list[GoldCaseIn] = Field(min_length=1)


class ProblemOut(BaseModel):
    location: str = Field(description="Where in the request, e.g. 'cases[3].fields.amount'.")
    reason: str


class ErrorDetail(BaseModel):
    type: str = Field(description="e.g. invalid_input, not_found, conflict, unauthenticated, forbidden, too_large.")
    message: str
    problems: list[ProblemOut] | None = Field(default=None, description="What was wrong, for invalid_input.")
    omitted: int | None = Field(default=None, description="How many more problems there were than are listed.")


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorDetail
