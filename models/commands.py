"""Commands agents and customers send to a case: one model per workflow update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.case import Actor


def text(description: str) -> Any:
    return Field(min_length=1, max_length=20_000, description=description)


REASON = "Why; recorded in the case history."


class CaseCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Actor


class AssignCase(CaseCommand):
    assignee: str = Field(min_length=1, max_length=200, description="The agent's user id.")


class RespondPublicly(CaseCommand):
    message: str = text("What the customer reads.")
    article: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="A published knowledge-base article the response points the customer to.",
    )


class AddInternalNote(CaseCommand):
    note: str = text("Seen by staff only.")


class RequestInformation(CaseCommand):
    message: str = text("What the customer should send.")


class CustomerReply(CaseCommand):
    message: str = text("The customer's reply.")


class EscalateTier(CaseCommand):
    tier: Literal[2, 3] = Field(description="2 or 3.")
    reason: str = text(REASON)


class ChangeSeverity(CaseCommand):
    severity: str = Field(min_length=1, max_length=40, description="A severity of the plan.")
    reason: str = text(REASON)


class RequestManagementEscalation(CaseCommand):
    reason: str = text(REASON)


class ResolveCase(CaseCommand):
    summary: str = text("What fixed it.")
    root_cause_analysis: str | None = Field(
        default=None,
        min_length=1,
        max_length=50_000,
        description="Root-cause analysis, where the plan requires one.",
    )


class ConfirmResolution(CaseCommand):
    comment: str | None = Field(default=None, max_length=20_000, description="Any comment.")


class CloseCase(CaseCommand):
    reason: str = text(REASON)


class ReopenCase(CaseCommand):
    reason: str = text(REASON)


class CloseOutOfScope(CaseCommand):
    exclusion: str = Field(
        min_length=1, max_length=100, description="One of the plan's exclusion ids."
    )
    reason: str = text(REASON)
