"""Notices: resolve who is affected, record the notice, start its delivery workflow."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from api.errors import InvalidField, NotFound
from api.schemas import NoticeCreate, NoticeDelivery, NoticePage, NoticeRead, NoticeSummary
from db.read_model import NoticeOrganisation, NoticeRecord, NotificationRecord, Organisation
from models.case import Actor
from models.notice import NoticeKind, NoticeRecipient, SendNotice, notice_workflow_id
from policies.format import Catalog
from policies.plan_ref import PlanRef
from workflows.notice import NoticeWorkflow


def _check_window(body: NoticeCreate) -> None:
    if body.kind is NoticeKind.scheduled_outage:
        for name in ("starts_at", "ends_at"):
            if getattr(body, name) is None:
                raise InvalidField(f"body.{name}", "a scheduled outage needs its window")
    if body.ends_at is not None and body.starts_at is None:
        raise InvalidField("body.starts_at", "an end needs a start")
    if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
        raise InvalidField("body.ends_at", "the window must end after it starts")


def affected(
    session: Session, catalogs: dict[str, Catalog], body: NoticeCreate
) -> list[Organisation]:
    """The organisations the notice is for; 422 naming the field for anything unknown."""
    selection = bool(body.organisations or body.plans or body.catalogs)
    if body.all_organisations and selection:
        raise InvalidField(
            "body.all_organisations", "either all organisations or a selection, not both"
        )
    if not body.all_organisations and not selection:
        raise InvalidField(
            "body.organisations", "name organisations, plans or catalogs, or set all_organisations"
        )
    for index, organisation_id in enumerate(body.organisations):
        if session.get(Organisation, organisation_id) is None:
            raise InvalidField(
                f"body.organisations.{index}", f"organisation {organisation_id} does not exist"
            )
    plans = [PlanRef.parse(plan) for plan in body.plans]  # the schema checked their form
    for index, ref in enumerate(plans):
        catalog = catalogs.get(ref.catalog)
        if catalog is None or all(p.id != ref.plan for p in catalog.plans):
            raise InvalidField(f"body.plans.{index}", f"no plan {ref} in the loaded catalogs")
    for index, catalog_id in enumerate(body.catalogs):
        if catalog_id not in catalogs:
            raise InvalidField(
                f"body.catalogs.{index}", f"no catalog {catalog_id!r}; known: {sorted(catalogs)}"
            )
    query = select(Organisation).order_by(col(Organisation.id))
    rows = session.exec(query).all()
    if body.all_organisations:
        matched = list(rows)
    else:
        matched = [
            row
            for row in rows
            if row.id in body.organisations
            or PlanRef(row.catalog, row.plan) in plans
            or row.catalog in body.catalogs
        ]
    if not matched:
        field = "body.plans" if body.plans else "body.catalogs"
        raise InvalidField(field, "no organisation is on these plans or catalogs")
    return matched


def record(
    engine: Engine, catalogs: dict[str, Catalog], body: NoticeCreate, actor: Actor
) -> SendNotice:
    """The database half (run in a thread): validate, store the notice and its audience."""
    _check_window(body)
    with Session(engine) as session:
        organisations = affected(session, catalogs, body)
        audience = body.model_dump(
            mode="json", include={"organisations", "plans", "catalogs", "all_organisations"}
        )
        notice = NoticeRecord(
            kind=body.kind.value,
            title=body.title,
            body=body.body,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            audience=audience,
            created_by=actor.id,
        )
        session.add(notice)
        session.flush()
        assert notice.id is not None
        session.add_all(
            NoticeOrganisation(notice_id=notice.id, organisation=row.id) for row in organisations
        )
        session.commit()
        return SendNotice(
            notice_id=notice.id,
            kind=body.kind,
            title=body.title,
            body=body.body,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            recipients=[
                NoticeRecipient(
                    organisation=row.id,
                    emails=tuple(row.contact_emails),
                    webhook=row.webhook_url,
                )
                for row in organisations
            ],
            sent_by=actor,
        )


def _forget(engine: Engine, notice_id: int) -> None:
    with Session(engine) as session:
        session.execute(
            delete(NoticeOrganisation).where(col(NoticeOrganisation.notice_id) == notice_id)
        )
        session.execute(delete(NoticeRecord).where(col(NoticeRecord.id) == notice_id))
        session.commit()


async def send(
    engine: Engine,
    client: Client,
    task_queue: str,
    catalogs: dict[str, Catalog],
    body: NoticeCreate,
    actor: Actor,
) -> NoticeRead:
    command = await asyncio.to_thread(record, engine, catalogs, body, actor)
    try:
        await client.start_workflow(
            NoticeWorkflow.run,
            command,
            id=notice_workflow_id(command.notice_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except BaseException:
        # Not started: nothing will be sent, so the notice must not look as if it were.
        await asyncio.to_thread(_forget, engine, command.notice_id)
        raise
    return await asyncio.to_thread(read, engine, command.notice_id, None)


def list_notices(
    engine: Engine, organisation: str | None, kind: NoticeKind | None, limit: int, offset: int
) -> NoticePage:
    """Newest first; with an organisation, only the notices addressed to it."""
    conditions: list[Any] = []
    if organisation is not None:
        addressed = select(NoticeOrganisation.notice_id).where(
            NoticeOrganisation.organisation == organisation
        )
        conditions.append(col(NoticeRecord.id).in_(addressed))
    if kind is not None:
        conditions.append(col(NoticeRecord.kind) == kind.value)
    with Session(engine) as session:
        total = session.exec(
            select(func.count()).select_from(NoticeRecord).where(*conditions)
        ).one()
        rows = session.exec(
            select(NoticeRecord)
            .where(*conditions)
            .order_by(col(NoticeRecord.id).desc())
            .limit(limit)
            .offset(offset)
        ).all()
        items = [NoticeSummary.model_validate(row, from_attributes=True) for row in rows]
    return NoticePage(items=items, total=total, limit=limit, offset=offset)


def read(engine: Engine, notice_id: int, organisation: str | None) -> NoticeRead:
    """One notice with its deliveries; with an organisation, as that customer sees it."""
    with Session(engine) as session:
        row = session.get(NoticeRecord, notice_id)
        addressed = session.exec(
            select(NoticeOrganisation.organisation)
            .where(NoticeOrganisation.notice_id == notice_id)
            .order_by(col(NoticeOrganisation.organisation))
        ).all()
        if row is None or (organisation is not None and organisation not in addressed):
            raise NotFound(f"notice {notice_id} does not exist")
        deliveries = select(NotificationRecord).where(NotificationRecord.notice_id == notice_id)
        if organisation is not None:
            deliveries = deliveries.where(NotificationRecord.organisation == organisation)
        sent = session.exec(deliveries.order_by(col(NotificationRecord.key))).all()
        return NoticeRead(
            **NoticeSummary.model_validate(row, from_attributes=True).model_dump(),
            organisations=[organisation] if organisation else list(addressed),
            messages=row.messages,
            delivered=row.delivered,
            failed=row.failed,
            deliveries=[
                NoticeDelivery(
                    organisation=record.organisation,
                    channel=record.channel,
                    recipient=record.recipient,
                    status=record.status,
                    attempts=record.attempts,
                    sent_at=record.sent_at,
                    last_error=record.last_error,
                )
                for record in sent
            ],
        )
