"""Releases that carry tier-3 cases to a fix: payloads and pure rules."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.case import Actor
from models.commands import CaseCommand


class ReleaseKind(StrEnum):
    hotfix = "hotfix"
    patch = "patch"
    service_pack = "service_pack"
    major = "major"


class ReleaseStatus(StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    shipped = "shipped"
    cancelled = "cancelled"


OPEN_RELEASE = frozenset({ReleaseStatus.planned, ReleaseStatus.in_progress})


class PlanRelease(BaseModel):
    """Command that starts a release workflow."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    kind: ReleaseKind
    planned_date: date | None = None
    notes: str = Field(default="", max_length=20_000)
    planned_by: Actor


class LinkedCase(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    organisation: str
    priority_updates: bool = Field(description="The case's plan gets hotfix builds early")
    linked_at: datetime


class ReleaseEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: Actor
    kind: str
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ReleaseView(BaseModel):
    version: str
    kind: ReleaseKind
    status: ReleaseStatus
    planned_date: date | None
    notes: str
    hotfix_build: str | None
    cases: list[LinkedCase]
    events: list[ReleaseEvent]
    shipped_at: datetime | None
    cancelled_reason: str | None


class LinkRelease(CaseCommand):
    """Ask a tier-3 case to join a release (sent to the case first, then the release)."""

    version: str


class UnlinkRelease(CaseCommand):
    version: str
    reason: str = Field(default="", max_length=2000)


class LinkCaseToRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int
    organisation: str
    priority_updates: bool
    actor: Actor


class UnlinkCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int
    actor: Actor
    reason: str = Field(default="", max_length=2000)


class ReleaseAction(BaseModel):
    """Start or ship a release."""

    model_config = ConfigDict(extra="forbid")

    actor: Actor


class PublishHotfix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    build: str = Field(min_length=1, max_length=200)
    actor: Actor


class CancelRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    actor: Actor


class ReleaseNews(BaseModel):
    """What a release tells its linked cases (a signal: no answer needed)."""

    version: str
    kind: ReleaseKind
    event: str = Field(pattern="^(shipped|hotfix_available|cancelled)$")
    build: str | None = None
    reason: str | None = None
    actor: Actor


def release_workflow_id(version: str) -> str:
    return f"release-{version}"
