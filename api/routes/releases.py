"""Release routes for release managers: plan, link, start, publish a hotfix, ship, cancel."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api import releases
from api.auth import CurrentUser, require
from api.deps import CaseNumber, EngineDep, LimiterDep, Offset, SettingsDep, TemporalDep
from api.idempotency import IDEMPOTENT
from api.schemas import ReleasePage
from models.case import Role
from models.release import (
    CancelRelease,
    PlanRelease,
    PublishHotfix,
    ReleaseAction,
    ReleaseKind,
    ReleaseStatus,
    ReleaseView,
)
from workflows.release import ReleaseWorkflow

router = APIRouter(prefix="/releases", tags=["releases"])
# Who may change releases and who may read them (admins always may); the console's
# release pages check the same.
MANAGER_ROLES = (Role.release_manager,)
READER_ROLES = (Role.release_manager, Role.agent, Role.auditor)
MANAGERS = require(*MANAGER_ROLES)
MANAGERS_POST = [MANAGERS, IDEMPOTENT]
READERS = require(*READER_ROLES)


class ReleaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    kind: ReleaseKind
    planned_date: date | None = None
    notes: str = Field(default="", max_length=20_000)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class Build(BaseModel):
    model_config = ConfigDict(extra="forbid")

    build: str = Field(min_length=1, max_length=200)


class ReleaseNotes(BaseModel):
    version: str
    kind: ReleaseKind
    status: str
    fixed_cases: list[int]
    organisations: list[str]
    text: str


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ReleaseView, dependencies=MANAGERS_POST
)
async def plan_release(
    body: ReleaseCreate, user: CurrentUser, client: TemporalDep, settings: SettingsDep
) -> ReleaseView:
    """Plan a release; planning the same version again returns it."""
    command = PlanRelease(**body.model_dump(), planned_by=user.actor)
    return await releases.plan(client, settings.temporal_task_queue, command)


@router.get("", response_model=ReleasePage, dependencies=[READERS])
async def list_releases(
    engine: EngineDep,
    status_: Annotated[list[ReleaseStatus] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> ReleasePage:
    """List releases, most recently planned first, filtered by status."""
    return await asyncio.to_thread(releases.list_releases, engine, status_, limit, offset)


@router.get("/{version}", response_model=ReleaseView, dependencies=[READERS])
async def get_release(version: str, client: TemporalDep) -> ReleaseView:
    """Read a release with its linked cases and history."""
    return await releases.read(client, version)


@router.get("/{version}/notes", response_model=ReleaseNotes, dependencies=[READERS])
async def release_notes(version: str, client: TemporalDep) -> ReleaseNotes:
    """Release notes: the cases it fixes and the organisations they belong to."""
    return notes_of(await releases.read(client, version))


def notes_of(view: ReleaseView) -> ReleaseNotes:
    """A release's notes: its kind, version and status, the cases it fixes, its notes."""
    organisations = sorted({case.organisation for case in view.cases})
    lines = [f"{view.kind.value.replace('_', ' ').title()} {view.version} ({view.status.value})"]
    lines += [f"- case {case.number} ({case.organisation})" for case in view.cases]
    if view.notes:
        lines += ["", view.notes]
    return ReleaseNotes(
        version=view.version,
        kind=view.kind,
        status=view.status.value,
        fixed_cases=[case.number for case in view.cases],
        organisations=organisations,
        text="\n".join(lines),
    )


@router.put("/{version}/cases/{number}", response_model=ReleaseView, dependencies=[MANAGERS])
async def link_case(
    version: str, number: CaseNumber, user: CurrentUser, client: TemporalDep, limiter: LimiterDep
) -> ReleaseView:
    """Link a tier-3 case to the release (idempotent; 409 for a case not in tier 3)."""
    return await releases.link(client, limiter, version, number, user.actor)


@router.delete("/{version}/cases/{number}", response_model=ReleaseView, dependencies=[MANAGERS])
async def unlink_case(
    version: str, number: CaseNumber, user: CurrentUser, client: TemporalDep, limiter: LimiterDep
) -> ReleaseView:
    """Unlink a case from the release (idempotent)."""
    return await releases.unlink(client, limiter, version, number, user.actor, "unlinked")


@router.post("/{version}/start", response_model=ReleaseView, dependencies=MANAGERS_POST)
async def start_release(
    version: str, user: CurrentUser, client: TemporalDep, limiter: LimiterDep
) -> ReleaseView:
    """Mark the release in progress."""
    command = ReleaseAction(actor=user.actor)
    return await releases.act(client, limiter, version, ReleaseWorkflow.start, command)


@router.post("/{version}/hotfix", response_model=ReleaseView, dependencies=MANAGERS_POST)
async def publish_hotfix(
    version: str,
    body: Annotated[Build, Body()],
    user: CurrentUser,
    client: TemporalDep,
    limiter: LimiterDep,
) -> ReleaseView:
    """Publish a hotfix build: cases on plans with priority updates are told at once."""
    command = PublishHotfix(build=body.build, actor=user.actor)
    return await releases.act(client, limiter, version, ReleaseWorkflow.publish_hotfix, command)


@router.post("/{version}/ship", response_model=ReleaseView, dependencies=MANAGERS_POST)
async def ship_release(
    version: str, user: CurrentUser, client: TemporalDep, limiter: LimiterDep
) -> ReleaseView:
    """Ship: every linked case is resolved with the release named (idempotent)."""
    command = ReleaseAction(actor=user.actor)
    return await releases.act(client, limiter, version, ReleaseWorkflow.ship, command)


@router.post("/{version}/cancel", response_model=ReleaseView, dependencies=MANAGERS_POST)
async def cancel_release(
    version: str,
    body: Annotated[Reason, Body()],
    user: CurrentUser,
    client: TemporalDep,
    limiter: LimiterDep,
) -> ReleaseView:
    """Cancel: linked cases return to the tier-3 queue with the reason."""
    command = CancelRelease(reason=body.reason, actor=user.actor)
    return await releases.act(client, limiter, version, ReleaseWorkflow.cancel, command)


case_side = APIRouter(prefix="/cases", tags=["releases"])


@case_side.put("/{number}/release/{version}", response_model=ReleaseView, dependencies=[MANAGERS])
async def link_from_case(
    number: CaseNumber, version: str, user: CurrentUser, client: TemporalDep, limiter: LimiterDep
) -> ReleaseView:
    """Link this tier-3 case to a release (the same as linking from the release)."""
    return await releases.link(client, limiter, version, number, user.actor)


@case_side.delete(
    "/{number}/release/{version}", response_model=ReleaseView, dependencies=[MANAGERS]
)
async def unlink_from_case(
    number: CaseNumber, version: str, user: CurrentUser, client: TemporalDep, limiter: LimiterDep
) -> ReleaseView:
    """Unlink this case from a release."""
    return await releases.unlink(client, limiter, version, number, user.actor, "unlinked")
