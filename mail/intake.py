"""What becomes of an inbound mail: recorded first, then turned into the same case commands
the API sends (a door decides nothing the case workflow decides).

`record` runs before the gateway answers `250`: the raw mail is in the read model, so a
crash afterwards loses nothing. `MailIntake.process` then takes a recorded mail through:

1. automatic mail (auto-replies, bounces, list mail) and floods are ignored: no case, no
   acknowledgement;
2. the sender must be a contact of exactly one organisation (on the catalog or plan the
   recipient address routes to, when it is routed); otherwise the mail is held for an
   agent to accept or discard: never a case for a stranger;
3. a mail that continues a case of that organisation (its tag in the subject, or
   In-Reply-To/References naming a mail Tierline sent or received about it) is the
   customer's reply: on a case waiting on the customer the paused clock resumes; a
   resolved case, or a closed one within the plan's reopen window, is reopened; a closed
   case beyond that opens a new case that names the old one;
4. anything else opens a case: the subject is its title, the text its details, the
   severity from a `Severity:` line when the plan knows it, else the plan's least urgent.

Every step is keyed by the mail (its Message-ID, else its digest): processing the same
mail again, after a crash or by a second gateway, finds what the first run did.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client

from api import actions
from api.cases import open_case, read_case
from api.errors import Conflict, InvalidField, NotFound, TierlineError
from api.limits import KeyedLimiter
from db.read_model import (
    AttachmentRecord,
    CaseRecord,
    InboundMailRecord,
    NotificationRecord,
    Organisation,
)
from mail.attachments import AttachmentStore
from mail.parse import InboundMail, parse_mail
from mail.tag import tag_pattern, thread_root_number
from models.case import (
    MESSAGE_ID_PATTERN,
    Actor,
    CaseDetails,
    CaseStatus,
    CaseView,
    Channel,
    Contact,
    Role,
)
from models.commands import CustomerReply, ReopenCase
from models.registry import BY_COMMAND
from observability.metrics import mail_processed
from settings import Settings

log = logging.getLogger("tierline.mail")

RECEIVED, APPLIED, IGNORED, HELD, REFUSED, FAILED, DISCARDED = (
    "received",
    "applied",
    "ignored",
    "held",
    "refused",
    "failed",
    "discarded",
)
MAX_TITLE = 300
MAX_TEXT = 20_000


def parse(raw: bytes, settings: Settings) -> InboundMail:
    return parse_mail(
        raw,
        max_attachment_bytes=settings.mail_max_attachment_bytes,
        max_attachments=settings.mail_max_attachments,
        allowed_types=frozenset(settings.mail_allowed_types),
        tag_pattern=tag_pattern(settings.case_tag_format),
    )


def sender_of(parsed: InboundMail, envelope_sender: str) -> str:
    """Whose mail it is: the From address, else the envelope's (lower-cased)."""
    return (parsed.sender or envelope_sender or "").lower()[:320]


def record(
    engine: Engine,
    raw: bytes,
    envelope_sender: str,
    recipients: list[str],
    parsed: InboundMail,
) -> tuple[int, bool]:
    """Keep the mail; returns its id and whether it is new (the same Message-ID from the
    same sender delivered again is the mail already kept)."""
    row = InboundMailRecord(
        sender=sender_of(parsed, envelope_sender),
        envelope_sender=envelope_sender[:320],
        recipients=[r.lower() for r in recipients],
        message_id=parsed.message_id[:255] if parsed.message_id else None,
        subject=parsed.subject[:1000],
        size=len(raw),
        digest=hashlib.sha256(raw).hexdigest(),
        raw=raw,
    )
    with Session(engine) as session:
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            existing = session.exec(
                select(InboundMailRecord)
                .where(InboundMailRecord.sender == row.sender)
                .where(InboundMailRecord.message_id == row.message_id)
            ).one()
            assert existing.id is not None
            return existing.id, False
        assert row.id is not None
        return row.id, True


def _threadable(message_id: str | None) -> str | None:
    """The mail's Message-ID when a header can carry it back, else None."""
    if message_id and len(message_id) <= 255 and re.fullmatch(MESSAGE_ID_PATTERN, message_id):
        return message_id
    return None


def _attachment_lines(parsed: InboundMail) -> str:
    """What came attached, for the case's timeline: the files kept (listed and downloadable
    under the case) and those refused, with why."""
    lines = [f"{a.filename} ({a.size:,} bytes)" for a in parsed.attachments]
    text = f"\n\nAttached: {', '.join(lines)}" if lines else ""
    if parsed.refusals:
        text += "\n\nNot kept: " + "; ".join(parsed.refusals)
    return text


def _text(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass
class Outcome:
    status: str
    reason: str | None = None
    organisation: str | None = None
    case_number: int | None = None


class MailIntake:
    """Processes recorded mails into cases; one per gateway process."""

    def __init__(
        self,
        engine: Engine,
        client: Client,
        settings: Settings,
        catalogs: dict[str, Any],
        limiter: KeyedLimiter,
    ) -> None:
        self.engine = engine
        self.client = client
        self.settings = settings
        self.catalogs = catalogs
        self.limiter = limiter
        self.store = AttachmentStore(settings.var_dir / "attachments")

    # -- the pipeline -----------------------------------------------------------------

    async def process(self, mail_id: int, parsed: InboundMail | None = None) -> Outcome | None:
        """Process a recorded mail once (`parsed`: what the gateway read of it already);
        None when it was processed already."""
        row = await asyncio.to_thread(self._load, mail_id)
        if row is None or row.status != RECEIVED:
            return None
        try:
            outcome = await self._decide_and_apply(row, parsed or parse(row.raw, self.settings))
        except Exception as err:  # kept and reported, never dropped
            log.exception("mail %s from %s could not be processed", mail_id, row.sender)
            outcome = Outcome(FAILED, f"{type(err).__name__}: {err}"[:1000])
        await asyncio.to_thread(self._finish, mail_id, outcome)
        mail_processed.labels(outcome.status).inc()
        log.info(
            "mail %s from %s: %s%s%s",
            mail_id,
            row.sender,
            outcome.status,
            f" case {outcome.case_number}" if outcome.case_number else "",
            f" ({outcome.reason})" if outcome.reason else "",
        )
        return outcome

    async def _decide_and_apply(self, row: InboundMailRecord, parsed: InboundMail) -> Outcome:
        if parsed.automatic:
            return Outcome(IGNORED, f"automatic mail: {parsed.automatic}")
        if await asyncio.to_thread(self._flooding, row):
            return Outcome(
                IGNORED,
                f"more than {self.settings.mail_hourly_limit} mails within an hour from "
                f"{row.sender}",
            )
        organisations = await asyncio.to_thread(self._organisations_of, row)
        if not organisations:
            return Outcome(HELD, f"{row.sender} is no organisation's contact")
        if len(organisations) > 1:
            names = ", ".join(sorted(o.id for o in organisations))
            return Outcome(HELD, f"{row.sender} is a contact of several organisations: {names}")
        organisation = organisations[0]
        number = await asyncio.to_thread(self._thread_case, organisation.id, parsed)
        try:
            outcome = await self._apply(row, organisation, parsed, number)
        except TierlineError as err:  # the quota, or any rule of the API
            return Outcome(REFUSED, err.detail, organisation.id)
        if parsed.refusals:
            refused = "; ".join(parsed.refusals)
            outcome.reason = f"{outcome.reason}; {refused}" if outcome.reason else refused
        return outcome

    async def _apply(
        self,
        row: InboundMailRecord,
        organisation: Organisation,
        parsed: InboundMail,
        number: int | None,
    ) -> Outcome:
        """The mail as the customer's: it continues case `number`, or opens a case when
        None; its attachments are kept with the case."""
        key = parsed.message_id or f"digest:{row.digest}"
        actor = Actor(id=f"mail:{row.sender}"[:200], role=Role.customer)
        if number is not None:
            outcome = await self._continue(number, organisation, parsed, actor, key)
        else:
            outcome = await self._open(organisation, parsed, actor, key, follows=None)
        if outcome.case_number is not None and parsed.attachments:
            await asyncio.to_thread(
                self._keep_attachments, row, organisation.id, outcome.case_number, parsed
            )
        return outcome

    async def _open(
        self,
        organisation: Organisation,
        parsed: InboundMail,
        actor: Actor,
        key: str,
        follows: int | None,
    ) -> Outcome:
        severity = self._severity(organisation, parsed.severity)
        title = parsed.title
        body = (parsed.text.strip() or "(no text)") + _attachment_lines(parsed)
        if follows is not None:
            title = f"Follow-up to case #{follows}: {title}"
            body = f"This continues case #{follows}, which is closed.\n\n{body}"
        try:
            details = CaseDetails(
                organisation=organisation.id,
                company_name=organisation.name,
                contact=Contact(
                    name=_text(parsed.sender_name or row_name(actor), 200),
                    email=actor.id.removeprefix("mail:"),
                ),
                channel=Channel.email,
                # The acknowledgement answers this mail, so it threads in the sender's client.
                source_message_id=_threadable(parsed.message_id),
                title=_text(title, MAX_TITLE),
                details=_text(body, MAX_TEXT),
                severity=severity,
            )
        except ValidationError as err:
            return Outcome(FAILED, f"not a valid case: {err.errors()[0]['msg']}", organisation.id)
        view = await open_case(
            self.engine,
            self.client,
            self.settings,
            self.catalogs,
            self.limiter,
            details,
            actor,
            idempotency_key=f"mail:{key}",
        )
        reason = f"follows closed case {follows}" if follows is not None else None
        return Outcome(APPLIED, reason, organisation.id, view.number)

    async def _continue(
        self,
        number: int,
        organisation: Organisation,
        parsed: InboundMail,
        actor: Actor,
        key: str,
    ) -> Outcome:
        view: CaseView = await read_case(self.engine, self.client, number)
        text = (parsed.reply or parsed.text).strip() or "(no text)"
        message = _text(text + _attachment_lines(parsed), MAX_TEXT)
        if view.status is CaseStatus.closed_out_of_scope:
            return await self._open(organisation, parsed, actor, key, follows=number)
        if view.status in (CaseStatus.resolved, CaseStatus.closed):
            try:
                await self._act(number, ReopenCase, {"reason": message}, actor, key)
            except Conflict:
                # Closed for good (the reopen window ended, or the plan allows none).
                return await self._open(organisation, parsed, actor, key, follows=number)
            return Outcome(APPLIED, "reopened the case", organisation.id, number)
        await self._act(number, CustomerReply, {"message": message}, actor, key)
        return Outcome(APPLIED, None, organisation.id, number)

    async def _act(
        self, number: int, command: type, body: dict[str, Any], actor: Actor, key: str
    ) -> None:
        spec = BY_COMMAND[command]
        model = actions.body_of(spec).model_validate(body)
        await actions.perform(self.client, self.limiter, number, spec, model, actor, f"mail:{key}")

    async def accept(
        self, mail_id: int, organisation_id: str, number: int | None, add_contact: bool
    ) -> Outcome:
        """An agent's decision on a held mail: it is the sender's, of `organisation_id`;
        continue case `number` (that organisation's), or open a case when None. With
        `add_contact`, the sender becomes one of the organisation's contacts, so their
        next mail goes straight to a case."""
        row = await self._undecided(mail_id, "accepted")
        organisation = await asyncio.to_thread(self._organisation, organisation_id)
        if number is not None:
            case = await asyncio.to_thread(self._case_organisation, number)
            if case != organisation.id:
                raise InvalidField("body.case", f"case {number} is not {organisation.id}'s")
        if add_contact:
            await asyncio.to_thread(self._add_contact, organisation.id, row.sender)
        outcome = await self._apply(row, organisation, parse(row.raw, self.settings), number)
        outcome.reason = "accepted by an agent"
        await asyncio.to_thread(self._finish, mail_id, outcome, row.status)
        return outcome

    async def discard(self, mail_id: int) -> None:
        row = await self._undecided(mail_id, "discarded")
        await asyncio.to_thread(
            self._finish, mail_id, Outcome(DISCARDED, "discarded by an agent"), row.status
        )

    async def _undecided(self, mail_id: int, verb: str) -> InboundMailRecord:
        """The mail an agent decides on: 404 unknown, 409 unless held, failed or refused."""
        row = await asyncio.to_thread(self._load, mail_id)
        if row is None:
            raise NotFound(f"mail {mail_id} does not exist")
        if row.status not in (HELD, FAILED, REFUSED):
            raise Conflict(
                f"mail {mail_id} is {row.status}; only held, failed or refused mail is {verb}"
            )
        return row

    # -- lookups (database, in a thread) ------------------------------------------------

    def _organisation(self, organisation_id: str) -> Organisation:
        with Session(self.engine) as session:
            found = session.get(Organisation, organisation_id)
            if found is None:
                raise InvalidField(
                    "body.organisation", f"organisation {organisation_id} does not exist"
                )
            session.expunge(found)
            return found

    def _case_organisation(self, number: int) -> str | None:
        with Session(self.engine) as session:
            row = session.get(CaseRecord, number)
            return row.organisation if row is not None else None

    def _add_contact(self, organisation_id: str, address: str) -> None:
        with Session(self.engine) as session:
            found = session.get(Organisation, organisation_id)
            assert found is not None
            if address not in [e.lower() for e in found.contact_emails]:
                found.contact_emails = [*found.contact_emails, address]
                session.add(found)
                session.commit()

    def _load(self, mail_id: int) -> InboundMailRecord | None:
        with Session(self.engine) as session:
            row = session.get(InboundMailRecord, mail_id)
            if row is not None:
                session.expunge(row)
            return row

    def _flooding(self, row: InboundMailRecord) -> bool:
        since = datetime.now(UTC) - timedelta(hours=1)
        with Session(self.engine) as session:
            earlier = session.exec(
                select(func.count())
                .select_from(InboundMailRecord)
                .where(InboundMailRecord.sender == row.sender)
                .where(col(InboundMailRecord.received_at) >= since)
                .where(col(InboundMailRecord.id) < row.id)
            ).one()
        return earlier >= self.settings.mail_hourly_limit

    def _organisations_of(self, row: InboundMailRecord) -> list[Organisation]:
        routed = {
            self.settings.mail_routes[r] for r in row.recipients if r in self.settings.mail_routes
        }
        with Session(self.engine) as session:
            everyone = session.exec(select(Organisation)).all()
        found = []
        for organisation in everyone:
            if row.sender not in {e.lower() for e in organisation.contact_emails}:
                continue
            plan = f"{organisation.catalog}:{organisation.plan}"
            if routed and not any(route in (organisation.catalog, plan) for route in routed):
                continue
            found.append(organisation)
        return found

    def _thread_case(self, organisation: str, parsed: InboundMail) -> int | None:
        """The organisation's case this mail continues, by tag, then by the mails it
        answers; a case of another organisation never matches."""
        with Session(self.engine) as session:

            def ours(number: int | None) -> int | None:
                if number is None:
                    return None
                row = session.get(CaseRecord, number)
                return number if row is not None and row.organisation == organisation else None

            if (found := ours(parsed.case_number)) is not None:
                return found
            answered = [*reversed(parsed.references), *parsed.in_reply_to]
            for message_id in reversed(answered):
                if (found := ours(thread_root_number(message_id))) is not None:
                    return found
                sent = session.exec(
                    select(NotificationRecord.case_number).where(
                        NotificationRecord.message_id == message_id
                    )
                ).first()
                if (found := ours(sent)) is not None:
                    return found
                received = session.exec(
                    select(InboundMailRecord.case_number)
                    .where(InboundMailRecord.message_id == message_id)
                    .where(InboundMailRecord.organisation == organisation)
                    .where(col(InboundMailRecord.case_number).is_not(None))
                ).first()
                if (found := ours(received)) is not None:
                    return found
        return None

    def _severity(self, organisation: Organisation, asked: str | None) -> str:
        """The plan's severity the mail asks for (any case), else its least urgent: the
        catalog's scale, which every plan of it uses in order (no plan to resolve)."""
        known = [level.id for level in self.catalogs[organisation.catalog].severities]
        if asked:
            for level in known:
                if level.lower() == asked.strip().lower():
                    return level
        return known[-1]

    def _keep_attachments(
        self, row: InboundMailRecord, organisation: str, number: int, parsed: InboundMail
    ) -> None:
        with Session(self.engine) as session:
            kept = session.exec(
                select(func.count())
                .select_from(AttachmentRecord)
                .where(AttachmentRecord.inbound_mail_id == row.id)
            ).one()
            if kept:
                return  # this mail's attachments were kept by an earlier run
            for attachment in parsed.attachments:
                digest = self.store.put(attachment.data)
                session.add(
                    AttachmentRecord(
                        case_number=number,
                        organisation=organisation,
                        inbound_mail_id=row.id,
                        filename=attachment.filename,
                        content_type=attachment.content_type,
                        size=attachment.size,
                        digest=digest,
                    )
                )
            session.commit()

    def _finish(self, mail_id: int, outcome: Outcome, status: str = RECEIVED) -> None:
        """Record what became of the mail, if it is still `status` (of two gateways
        processing the same mail, the first to finish says)."""
        with Session(self.engine) as session:
            session.execute(
                update(InboundMailRecord)
                .where(col(InboundMailRecord.id) == mail_id)
                .where(col(InboundMailRecord.status) == status)
                .values(
                    status=outcome.status,
                    reason=outcome.reason,
                    organisation=outcome.organisation,
                    case_number=outcome.case_number,
                    processed_at=datetime.now(UTC),
                )
            )
            session.commit()

    def pending(self) -> list[tuple[int, str]]:
        """Mails recorded but not processed (what a crash left behind), oldest first, with
        their senders."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(InboundMailRecord.id, InboundMailRecord.sender)
                .where(InboundMailRecord.status == RECEIVED)
                .order_by(col(InboundMailRecord.id))
            ).all()
        return [(mail_id, sender) for mail_id, sender in rows if mail_id is not None]


def row_name(actor: Actor) -> str:
    """A contact's name when the mail gives none: the address's local part."""
    return actor.id.removeprefix("mail:").split("@")[0] or "customer"
