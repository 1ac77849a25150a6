"""Request bodies. Pydantic lives here, at the edge; the services take plain values."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseIn(_Body):
    external_id: str | None = Field(default=None, description="Your id for the case; makes submission idempotent.")
    fields: dict[str, Any] = Field(description="The case's field values, as the flow's schema declares them.")


class BatchIn(_Body):
    cases: list[CaseIn] = Field(min_length=1)


class ClaimIn(_Body):
    flow: str | None = None
    queue: str | None = None


class LeaseIn(_Body):
    token: int = Field(description="The fencing token the claim returned.")


class ReviewIn(LeaseIn):
    label: str
    comment: str = ""


class SkipIn(LeaseIn):
    reason: str = Field(description="Why you pass this task on; shown to leads and kept in the audit trail.")
    unsure: bool = Field(default=False, description="True when you looked but could not decide.")


class AssignIn(_Body):
    reviewer: str | None = Field(description="Who alone may claim the task; null frees it for everyone again.")


class SkillsIn(_Body):
    skills: list[str] = Field(max_length=100, description="The reviewer's skills; queues may require some.")


class ConflictIn(_Body):
    case_id: int
    reason: str = Field(min_length=1, max_length=1000)


class GoldCaseIn(_Body):
    fields: dict[str, Any] = Field(description="The case's field values, as the flow's schema declares them.")
    label: str = Field(description="The known answer.")


class GoldIn(_Body):
    cases: list[GoldCaseIn] = Field(min_length=1)
