"""Case operations behind the routes: number allocation, quota, workflow start, reads."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, literal, literal_column, or_, table
from sqlalchemy import column as sql_column
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import CALLER, Principal, bearer_digest, check_role, principal_from
from api.errors import InvalidField, NotFound, QuotaExhausted
from api.limits import KeyedLimiter, update_with_retry
from api.schemas import CasePage, CaseSummary, TimelineEntry
from db.read_model import (
    SEARCH_MIN_WORD,
    SEARCH_TABLE,
    CaseEventRecord,
    CaseNumber,
    CaseRecord,
    Organisation,
)
from models.case import (
    Actor,
    CaseDetails,
    CaseRouting,
    CaseStatus,
    CaseView,
    OpenCase,
    Role,
    case_workflow_id,
)
from models.clocks import ClockView
from models.quota import QuotaPeriod, ReserveSlot, SlotReserved, quota_workflow_id
from observability import logs
from observability.metrics import quota_refusals
from policies.business_time import parse_zone
from policies.format import Catalog
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_plan
from settings import Settings
from workflows.case import CaseStart, CaseWorkflow
from workflows.quota import QuotaWorkflow

QUEUE_STATUSES = [
    CaseStatus.tier1.value,
    CaseStatus.tier2.value,
    CaseStatus.tier3.value,
    CaseStatus.waiting_on_customer.value,
]


def scoped_key(caller: str, organisation: str, idempotency_key: str) -> str:
    """The key a case number is filed under: the client's key belongs to its caller and
    the organisation the case is for, so another caller's same key is another case."""
    scope = "\x1f".join((caller, organisation, idempotency_key))
    return hashlib.sha256(scope.encode()).hexdigest()


def allocate_number(session: Session, key: str | None) -> int:
    """A new case number, or the one already handed out for this (scoped) key."""
    if key is not None:
        existing = session.exec(select(CaseNumber).where(CaseNumber.idempotency_key == key)).first()
        if existing is not None and existing.number is not None:
            return existing.number
    row = CaseNumber(idempotency_key=key)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the insert: use its number.
        session.rollback()
        return allocate_number(session, key)
    session.refresh(row)
    assert row.number is not None
    return row.number


def frozen_plan(
    session: Session, catalogs: dict[str, Catalog], details: CaseDetails, now: datetime
) -> tuple[Organisation, PlanSnapshot]:
    """The organisation and its plan, frozen for a case opening now; 422 on bad input."""
    organisation = session.get(Organisation, details.organisation)
    if organisation is None:
        raise InvalidField(
            "body.organisation", f"organisation {details.organisation} does not exist"
        )
    plan = resolve_plan(catalogs[organisation.catalog], organisation.plan, now, organisation.addons)
    known = [level.id for level in plan.severities]
    if details.severity not in known:
        raise InvalidField(
            "body.severity",
            f"plan {plan.plan_id} has no severity {details.severity!r}; use one of {known}",
        )
    return organisation, plan


def routing_for(organisation: Organisation, settings: Settings) -> CaseRouting:
    return CaseRouting(
        customer_emails=tuple(organisation.contact_emails),
        customer_webhook=organisation.webhook_url,
        dedicated_engineer=organisation.dedicated_engineer,
        escalation_contacts=settings.escalation_contacts,
        agents_email=settings.support_inbox,
    )


def quota_period(organisation: str, plan: PlanSnapshot, now: datetime) -> QuotaPeriod | None:
    """The plan's month that `now` falls in, in the plan's zone; None without a quota."""
    if plan.incidents_per_month is None:
        return None
    local = now.astimezone(parse_zone(plan.calendar.zone))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    month_end = datetime(year, month, 1, tzinfo=local.tzinfo).astimezone(UTC)
    return QuotaPeriod(
        organisation=organisation,
        month=f"{local.year:04d}-{local.month:02d}",
        limit=plan.incidents_per_month,
        ends_at=month_end,
    )


async def reserve_slot(
    client: Client, task_queue: str, limiter: KeyedLimiter, period: QuotaPeriod, number: int
) -> None:
    """Take one of the month's incidents for this case, or refuse with QuotaExhausted."""
    workflow_id = quota_workflow_id(period.organisation, period.month)

    async def reserve() -> SlotReserved:
        start = WithStartWorkflowOperation(
            QuotaWorkflow.run,
            period,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return await client.execute_update_with_start_workflow(
            QuotaWorkflow.reserve, ReserveSlot(case_number=number), start_workflow_operation=start
        )

    try:
        await update_with_retry(limiter, workflow_id, reserve)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == "QuotaExhausted":
            raise QuotaExhausted(
                cause.message, organisation=period.organisation, month=period.month
            ) from err
        raise


async def start_case(client: Client, task_queue: str, command: OpenCase) -> CaseView:
    """Start the case workflow and return its view once it is in the read model.

    Update-with-start: a retried start joins the running case instead of failing, and
    the reply waits for a worker instead of racing it.
    """
    workflow_id = case_workflow_id(command.number)
    start = WithStartWorkflowOperation(
        CaseWorkflow.run,
        CaseStart(open=command),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        with logs.bind(case_number=command.number, workflow_id=workflow_id):
            return await client.execute_update_with_start_workflow(
                CaseWorkflow.opened, start_workflow_operation=start
            )
    except WorkflowAlreadyStartedError:
        # The case was opened and has since closed: its final state is the answer.
        final: CaseView = await client.get_workflow_handle(
            workflow_id, result_type=CaseView
        ).result()
        return final


def prepare_open(
    engine: Engine,
    settings: Settings,
    catalogs: dict[str, Catalog],
    details: CaseDetails,
    opened_by: Actor,
    idempotency_key: str | None,
) -> tuple[OpenCase, QuotaPeriod | None]:
    """The database half of opening a case (run in a thread): plan, number, routing."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        organisation, plan = frozen_plan(session, catalogs, details, now)
        routing = routing_for(organisation, settings)
        key = None
        if idempotency_key is not None:
            key = scoped_key(opened_by.id, details.organisation, idempotency_key)
        number = allocate_number(session, key)
    command = OpenCase(
        number=number, details=details, plan=plan, routing=routing, opened_by=opened_by
    )
    return command, quota_period(details.organisation, plan, now)


async def open_case(
    engine: Engine,
    client: Client,
    settings: Settings,
    catalogs: dict[str, Catalog],
    limiter: KeyedLimiter,
    details: CaseDetails,
    opened_by: Actor,
    idempotency_key: str | None,
) -> CaseView:
    command, period = await asyncio.to_thread(
        prepare_open, engine, settings, catalogs, details, opened_by, idempotency_key
    )
    if period is not None:
        try:
            await reserve_slot(
                client, settings.temporal_task_queue, limiter, period, command.number
            )
        except QuotaExhausted:
            quota_refusals.labels(command.plan.source.catalog_id, command.plan.plan_id).inc()
            raise
    return await start_case(client, settings.temporal_task_queue, command)


def _not_projected_yet(session: Session, number: int) -> None:
    """404 unless the number was handed out (its case is then on its way to the read
    model)."""
    if session.get(CaseNumber, number) is None:
        raise NotFound(f"case {number} does not exist")


def _stored_view(engine: Engine, number: int) -> CaseView | None:
    with Session(engine) as session:
        row = session.get(CaseRecord, number)
        if row is not None:
            return CaseView.model_validate(row.view)
        _not_projected_yet(session, number)
        return None


# The caller and the case's organisation and tier in one query: an action's whole
# permission check in one trip to the database. The case's columns are null while it is
# not in the read model yet.
_CALLER_AND_ACCESS = CALLER.add_columns(
    CaseRecord.organisation.label("case_organisation"),  # type: ignore[attr-defined]
    CaseRecord.tier.label("case_tier"),  # type: ignore[attr-defined]
).outerjoin(CaseRecord, CaseRecord.number == bindparam("number"))


def _caller_and_access(engine: Engine, token_digest: str, number: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            _CALLER_AND_ACCESS, {"digest": token_digest, "number": number}
        ).first()


async def caller_and_case_access(
    engine: Engine, client: Client, authorization: str | None, number: int, roles: tuple[Role, ...]
) -> tuple[Principal, str, int]:
    """Who calls (401, and 403 unless one of `roles`) and the case's organisation and
    tier, the token and the case read in one query."""
    token_digest = bearer_digest(authorization)
    row = await asyncio.to_thread(_caller_and_access, engine, token_digest, number)
    user = principal_from(row)
    check_role(user, roles)
    if row.case_organisation is not None:
        return user, row.case_organisation, row.case_tier
    # Not in the read model (yet): 404 unless its number was handed out, else live.
    view = await read_case(engine, client, number)
    return user, view.details.organisation, view.tier


async def read_case(engine: Engine, client: Client, number: int) -> CaseView:
    """The case from the read model, or live from its workflow while projection catches up."""
    stored = await asyncio.to_thread(_stored_view, engine, number)
    if stored is not None:
        return stored
    handle = client.get_workflow_handle(case_workflow_id(number))
    try:
        view: CaseView = await handle.query(CaseWorkflow.view)
        return view
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"case {number} does not exist") from err
        raise


@dataclass(frozen=True)
class CaseFilters:
    statuses: list[CaseStatus] | None = None
    tier: int | None = None
    severity: str | None = None
    organisation: str | None = None
    assignee: str | None = None
    breached: bool | None = None
    due_before: datetime | None = None
    text: str | None = None


LIKE_ESCAPE = "\\"


def like_literal(word: str) -> str:
    """`word` as a LIKE pattern that matches only itself."""
    for special in (LIKE_ESCAPE, "%", "_"):
        word = word.replace(special, LIKE_ESCAPE + special)
    return word


# The columns a list shows: never the full view JSON, which a page has no use for.
SUMMARY_COLUMNS = tuple(getattr(CaseRecord, name) for name in CaseSummary.model_fields)
# A text search counts its matches up to this many; a word in most cases ("report")
# would otherwise cost a count of most of the table on every page.
TEXT_COUNT_CAP = 1000


@dataclass
class _Listing:
    """How a list query reads: which rows, in which order, counted how."""

    conditions: list[Any]
    search: Any = None  # the SQLite FTS5 table, joined on rowid = number, when it serves
    phrase: str | None = None

    def select(self, *columns: Any) -> Any:
        query = select(*columns).select_from(CaseRecord)
        if self.search is not None:
            query = query.join(self.search, self.search.c.rowid == col(CaseRecord.number)).where(
                literal_column(SEARCH_TABLE).op("MATCH")(self.phrase)
            )
        return query.where(*self.conditions)

    def matching(self, *columns: Any) -> Any:
        """`select` for counting and filtering: the text matches as a set the case rows
        are checked against. Joined instead, SQLite walked the other filters' index and
        queried the text index once per row: 2.6 s to count a tier's open cases with one
        word at 100,000 cases, against 35 ms this way."""
        query = select(*columns).select_from(CaseRecord)
        if self.search is not None:
            matches = select(self.search.c.rowid).where(
                literal_column(SEARCH_TABLE).op("MATCH")(self.phrase)
            )
            query = query.where(col(CaseRecord.number).in_(matches))
        return query.where(*self.conditions)

    def count(self, session: Session, text: bool) -> tuple[int, bool]:
        """How many cases match, and whether more do than that; with text counted up to
        `TEXT_COUNT_CAP` only."""
        if text:
            matches = self.matching(literal(1)).limit(TEXT_COUNT_CAP + 1).subquery()
            counted: int = session.exec(select(func.count()).select_from(matches)).one()
            return min(counted, TEXT_COUNT_CAP), counted > TEXT_COUNT_CAP
        total: int = session.exec(self.matching(func.count())).one()
        return total, False

    def newest_first(self) -> Any:
        # With the search table driving, its rowid order is the number order: no sort.
        if self.search is not None:
            return self.search.c.rowid.desc()
        return col(CaseRecord.number).desc()


def _listing(engine: Engine, filters: CaseFilters) -> _Listing:
    conditions: list[Any] = []
    if filters.statuses:
        conditions.append(col(CaseRecord.status).in_([s.value for s in filters.statuses]))
    tier_column: Any = CaseRecord.tier
    if filters.statuses and engine.dialect.name == "sqlite":
        # With statuses, the queue index (status first) serves the tier too; SQLite's
        # planner, given `tier = ?`, preferred the index on tier alone and read every row
        # of the tier (115 ms to count a tier's open cases of one organisation at
        # 100,000 cases, against 9 ms). A unary plus keeps it off that index.
        tier_column = literal_column(f"+{CaseRecord.__tablename__}.tier")
    for column, value in (
        (tier_column, filters.tier),
        (CaseRecord.severity, filters.severity),
        (CaseRecord.organisation, filters.organisation),
        (CaseRecord.assignee, filters.assignee),
        (CaseRecord.breached, filters.breached),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if filters.due_before is not None:
        conditions.append(col(CaseRecord.next_due_at) < filters.due_before)
    listing = _Listing(conditions)
    # Each word in the title or the details, any case, anywhere in a word.
    words = (filters.text or "").split()
    indexed = [word for word in words if len(word) >= SEARCH_MIN_WORD]
    if indexed and engine.dialect.name == "sqlite":
        # The FTS5 trigram index: every quoted word must occur in one of the columns.
        listing.search = table(SEARCH_TABLE, sql_column("rowid"))
        listing.phrase = " ".join('"' + word.replace('"', '""') + '"' for word in indexed)
        words = [word for word in words if len(word) < SEARCH_MIN_WORD]
    for word in words:
        # PostgreSQL serves ILIKE from its trigram indexes; short words scan. The word is
        # matched literally: `%`, `_` and the escape character itself lose their meaning.
        pattern = "%" + like_literal(word) + "%"
        conditions.append(
            or_(
                col(CaseRecord.title).ilike(pattern, escape=LIKE_ESCAPE),
                col(CaseRecord.details).ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    return listing


def list_cases(engine: Engine, filters: CaseFilters, limit: int, offset: int) -> CasePage:
    """A page of cases from the read model, newest first."""
    listing = _listing(engine, filters)
    with Session(engine) as session:
        total, capped = listing.count(session, bool(filters.text))
        rows = session.exec(
            listing.select(*SUMMARY_COLUMNS)
            .order_by(listing.newest_first())
            .limit(limit)
            .offset(offset)
        ).all()
        items = [CaseSummary.model_validate(row, from_attributes=True) for row in rows]
    return CasePage(items=items, total=total, total_capped=capped, limit=limit, offset=offset)


def queue(engine: Engine, tier: int, limit: int, offset: int) -> list[CaseSummary]:
    """Open cases of a tier, nearest SLA due instant first (cases with none last)."""
    with Session(engine) as session:
        rows = session.exec(
            select(*SUMMARY_COLUMNS)
            .where(CaseRecord.tier == tier)
            .where(col(CaseRecord.status).in_(QUEUE_STATUSES))
            .order_by(col(CaseRecord.next_due_at).is_(None), col(CaseRecord.next_due_at))
            .limit(limit)
            .offset(offset)
        ).all()
        return [CaseSummary.model_validate(row, from_attributes=True) for row in rows]


def timeline(engine: Engine, number: int, public_only: bool) -> list[TimelineEntry]:
    with Session(engine) as session:
        query = select(CaseEventRecord).where(CaseEventRecord.case_number == number)
        if public_only:
            query = query.where(col(CaseEventRecord.public).is_(True))
        rows = session.exec(query.order_by(col(CaseEventRecord.seq))).all()
        return [TimelineEntry.model_validate(row, from_attributes=True) for row in rows]


@dataclass(frozen=True)
class QueueRow:
    """A case of a work queue and its clocks, as a screen shows them."""

    summary: CaseSummary
    clocks: list[ClockView]
    catalog: str | None = None  # the catalog the case's plan came from


def queue_page(
    engine: Engine, filters: CaseFilters, limit: int, offset: int
) -> tuple[list[QueueRow], int, bool]:
    """Open cases matching `filters`, nearest SLA due instant first (none last), with
    their clocks; and how many match (counted up to `TEXT_COUNT_CAP` with text)."""
    if not filters.statuses:
        filters = replace(filters, statuses=[CaseStatus(status) for status in QUEUE_STATUSES])
    listing = _listing(engine, filters)
    due_first = (col(CaseRecord.next_due_at).is_(None), col(CaseRecord.next_due_at))
    with Session(engine) as session:
        total, capped = listing.count(session, bool(filters.text))
        # The page's numbers first, from the queue index alone (it holds every filtered
        # column), then those rows' views: sorting the tier's open cases with their views
        # read the whole JSON of each one.
        numbers = list(
            session.exec(
                listing.matching(col(CaseRecord.number))
                .order_by(*due_first, col(CaseRecord.number))
                .limit(limit)
                .offset(offset)
            ).all()
        )
        rows = session.exec(
            select(*SUMMARY_COLUMNS, col(CaseRecord.view)).where(  # type: ignore[call-overload]
                col(CaseRecord.number).in_(numbers)
            )
        ).all()
    found = {}
    for row in rows:
        *columns, view = row
        summary = CaseSummary.model_validate(
            dict(zip(CaseSummary.model_fields, columns, strict=True))
        )
        clocks = [ClockView.model_validate(clock) for clock in view.get("clocks", [])]
        catalog = (view.get("policy") or {}).get("catalog_id")
        found[summary.number] = QueueRow(summary, clocks, catalog)
    page = [found[number] for number in numbers if number in found]
    return page, total, capped
