"""Commands agents and customers send to a case: one model per workflow update."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.case import Actor

Text = Field(min_length=1, max_length=20_000)


class CaseCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Actor


class AssignCase(CaseCommand):
    assignee: str = Field(min_length=1, max_length=200)


class RespondPublicly(CaseCommand):
    message: str = Text


class AddInternalNote(CaseCommand):
    note: str = Text


class RequestInformation(CaseCommand):
    message: str = Text


class CustomerReply(CaseCommand):
    message: str = Text


class EscalateTier(CaseCommand):
    tier: Literal[2, 3]
    reason: str = Text


class ChangeSeverity(CaseCommand):
    severity: str = Field(min_length=1, max_length=40)
    reason: str = Text


class RequestManagementEscalation(CaseCommand):
    reason: str = Text


class ResolveCase(CaseCommand):
    summary: str = Text
    root_cause_analysis: str | None = Field(default=None, min_length=1, max_length=50_000)


class ConfirmResolution(CaseCommand):
    comment: str | None = Field(default=None, max_length=20_000)


class CloseCase(CaseCommand):
    reason: str = Text


class ReopenCase(CaseCommand):
    reason: str = Text


class CloseOutOfScope(CaseCommand):
    exclusion: str = Field(min_length=1, max_length=100)
    reason: str = Text
