"""The e-mail door's routes: mail the gateway received (the unmatched list, accept and
discard), a case's mail thread and its attachments."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.auth import CurrentUser, require
from api.deps import MAX_ID, EngineDep, Offset, TemporalDep
from api.errors import NotFound
from api.idempotency import IDEMPOTENT
from api.routes.cases import CaseNumber, visible_case
from db.read_model import (
    AttachmentRecord,
    InboundMailRecord,
    NotificationRecord,
    Organisation,
)
from mail.attachments import AttachmentStore
from mail.intake import MailIntake
from models.case import Role

router = APIRouter(tags=["mail"])
MailId = Annotated[int, Path(ge=1, le=MAX_ID, description="The mail's id")]
STAFF = require(Role.agent)


class MailSummary(BaseModel):
    id: int
    received_at: datetime
    sender: str
    recipients: list[str]
    subject: str
    message_id: str | None
    status: str = Field(description="received, applied, ignored, held, refused, failed, discarded")
    reason: str | None
    organisation: str | None
    case_number: int | None


class MailPage(BaseModel):
    items: list[MailSummary]
    total: int
    limit: int
    offset: int


class MailRead(MailSummary):
    text: str = Field(description="The body as plain text, as the gateway read it")
    attachments: list[str]
    refusals: list[str]


class MailAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    case: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Continue this case; a new case when absent"
    )
    add_contact: bool = Field(
        default=True, description="Make the sender one of the organisation's contacts"
    )


class AttachmentRead(BaseModel):
    id: int
    case_number: int
    filename: str
    content_type: str
    size: int
    digest: str
    created_at: datetime


class ThreadMessage(BaseModel):
    direction: str = Field(description="in (received by the gateway) or out (sent by Tierline)")
    at: datetime
    address: str = Field(description="Who sent it (in) or to whom it went (out)")
    subject: str
    message_id: str | None
    status: str


def intake(request: Request) -> MailIntake:
    door: MailIntake = request.app.state.mail
    return door


MailIntakeDep = Annotated[MailIntake, Depends(intake)]


def _mail_page(engine: Any, status: list[str] | None, limit: int, offset: int) -> MailPage:
    query = select(InboundMailRecord)
    count = select(func.count()).select_from(InboundMailRecord)
    if status:
        query = query.where(col(InboundMailRecord.status).in_(status))
        count = count.where(col(InboundMailRecord.status).in_(status))
    with Session(engine) as session:
        rows = session.exec(
            query.order_by(col(InboundMailRecord.id).desc()).limit(limit).offset(offset)
        ).all()
        total = session.exec(count).one()
    items = [MailSummary.model_validate(row, from_attributes=True) for row in rows]
    return MailPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/mail", response_model=MailPage, dependencies=[STAFF])
async def list_mail(
    engine: EngineDep,
    status: Annotated[list[str] | None, Query(description="e.g. held: the unmatched list")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> MailPage:
    """Mail the gateway received, newest first; `status=held` is the unmatched list."""
    return await asyncio.to_thread(_mail_page, engine, status, limit, offset)


def _mail(engine: Any, mail_id: int) -> InboundMailRecord:
    with Session(engine) as session:
        row = session.get(InboundMailRecord, mail_id)
        if row is None:
            raise NotFound(f"mail {mail_id} does not exist")
        session.expunge(row)
        return row


@router.get("/mail/{mail_id}", response_model=MailRead, dependencies=[STAFF])
async def read_mail(mail_id: MailId, engine: EngineDep, door: MailIntakeDep) -> MailRead:
    """One received mail with its text, as the gateway read it."""
    from mail.intake import parse

    row = await asyncio.to_thread(_mail, engine, mail_id)
    parsed = await asyncio.to_thread(parse, row.raw, door.settings)
    return MailRead(
        **MailSummary.model_validate(row, from_attributes=True).model_dump(),
        text=parsed.text,
        attachments=[a.filename for a in parsed.attachments],
        refusals=list(parsed.refusals),
    )


@router.post("/mail/{mail_id}/accept", response_model=MailSummary, dependencies=[STAFF, IDEMPOTENT])
async def accept_mail(
    mail_id: MailId, body: MailAccept, engine: EngineDep, door: MailIntakeDep
) -> MailSummary:
    """Accept a held mail for an organisation: into `case`, or as a new case."""
    await door.accept(mail_id, body.organisation, body.case, body.add_contact)
    row = await asyncio.to_thread(_mail, engine, mail_id)
    return MailSummary.model_validate(row, from_attributes=True)


@router.post(
    "/mail/{mail_id}/discard", response_model=MailSummary, dependencies=[STAFF, IDEMPOTENT]
)
async def discard_mail(mail_id: MailId, engine: EngineDep, door: MailIntakeDep) -> MailSummary:
    """Discard a held mail: it opens nothing, and stays listed as discarded."""
    await door.discard(mail_id)
    row = await asyncio.to_thread(_mail, engine, mail_id)
    return MailSummary.model_validate(row, from_attributes=True)


def _attachments(engine: Any, number: int) -> list[AttachmentRead]:
    with Session(engine) as session:
        rows = session.exec(
            select(AttachmentRecord)
            .where(AttachmentRecord.case_number == number)
            .order_by(col(AttachmentRecord.id))
        ).all()
    return [AttachmentRead.model_validate(row, from_attributes=True) for row in rows]


@router.get("/cases/{number}/attachments", response_model=list[AttachmentRead])
async def case_attachments(
    number: CaseNumber, user: CurrentUser, engine: EngineDep, client: TemporalDep
) -> list[AttachmentRead]:
    """The files that came with the case's mail; customers see their own cases' only."""
    await visible_case(engine, client, number, user)
    return await asyncio.to_thread(_attachments, engine, number)


@router.get(
    "/cases/{number}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file"}},
)
async def download_attachment(
    number: CaseNumber,
    attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    user: CurrentUser,
    engine: EngineDep,
    client: TemporalDep,
    request: Request,
) -> Response:
    """One attachment's bytes, as a download (never rendered by the browser)."""
    await visible_case(engine, client, number, user)

    def load() -> tuple[AttachmentRecord, bytes]:
        with Session(engine) as session:
            row = session.get(AttachmentRecord, attachment_id)
            if row is None or row.case_number != number:
                raise NotFound(f"case {number} has no attachment {attachment_id}")
            store = AttachmentStore(request.app.state.settings.var_dir / "attachments")
            return row, store.get(row.digest)

    row, data = await asyncio.to_thread(load)
    # An ASCII name for every client, and the real one (RFC 6266) for those that read it:
    # a header is Latin-1, and a name in another script made every download a 500.
    ascii_name = row.filename.encode("ascii", "replace").decode().replace('"', "'")
    disposition = f'attachment; filename="{ascii_name}"'
    if not row.filename.isascii():
        disposition += f"; filename*=UTF-8''{quote(row.filename)}"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "X-Original-Content-Type": row.content_type,
        },
    )


def _thread(engine: Any, number: int, organisation: str, customer: bool) -> list[ThreadMessage]:
    """Received and sent mail of the case, oldest first; a customer sees only what went
    to their organisation's contacts (not the team's inbox or the management chain)."""
    with Session(engine) as session:
        received = session.exec(
            select(InboundMailRecord).where(InboundMailRecord.case_number == number)
        ).all()
        sent = session.exec(
            select(NotificationRecord)
            .where(NotificationRecord.case_number == number)
            .where(NotificationRecord.channel == "email")
        ).all()
        owner = session.get(Organisation, organisation)
        contacts = {e.lower() for e in owner.contact_emails} if owner else set()
    messages = [
        ThreadMessage(
            direction="in",
            at=row.received_at,
            address=row.sender,
            subject=row.subject,
            message_id=row.message_id,
            status=row.status,
        )
        for row in received
    ]
    messages += [
        ThreadMessage(
            direction="out",
            at=row.sent_at or row.created_at,
            address=row.recipient,
            subject=row.subject,
            message_id=row.message_id,
            status=row.status,
        )
        for row in sent
        if not customer or row.recipient.lower() in contacts
    ]
    return sorted(messages, key=lambda message: message.at)


@router.get("/cases/{number}/mail", response_model=list[ThreadMessage])
async def case_mail(
    number: CaseNumber, user: CurrentUser, engine: EngineDep, client: TemporalDep
) -> list[ThreadMessage]:
    """The case's mail thread: what the gateway received for it and what Tierline sent."""
    view = await visible_case(engine, client, number, user)
    customer = user.role is Role.customer
    return await asyncio.to_thread(_thread, engine, number, view.details.organisation, customer)
