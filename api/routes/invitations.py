"""Invitations: a one-time link that sets a user's console password, e-mailed to them
(admins invite anyone; agents invite customers, `web.links.INVITERS`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel

from api.auth import CurrentUser, require
from api.deps import EngineDep, SettingsDep
from api.errors import PROBLEM_RESPONSE
from api.idempotency import IDEMPOTENT
from web import links

router = APIRouter(tags=["users"], dependencies=[require(*links.INVITERS)])
UserId = Annotated[str, Path(min_length=1, max_length=200)]


class InvitationSent(BaseModel):
    """The invitation on its way; the link itself is only in the e-mail."""

    user_id: str
    email: str
    expires_at: datetime


@router.post(
    "/users/{user_id}/invite",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InvitationSent,
    dependencies=[IDEMPOTENT],
    responses={
        503: {**PROBLEM_RESPONSE, "description": "The relay refused the e-mail; no link exists"}
    },
)
async def invite(
    user_id: UserId, request: Request, caller: CurrentUser, engine: EngineDep, settings: SettingsDep
) -> InvitationSent:
    """E-mail the user a link that sets their console password; it works once and expires."""
    sent = await links.invite(engine, settings, links.base_url(request), user_id, caller)
    return InvitationSent(user_id=sent.user_id, email=sent.email, expires_at=sent.expires_at)
