"""One-time links that set a console password, e-mailed to the user: an invitation (an
admin, or an agent for a customer, sends it) or a reset (asked for on the
forgotten-password page).

A link is a random token; only its SHA-256 is stored (`password_links`). It works once,
until it expires (settings `invite_link_hours` and `reset_link_minutes`), and
not at all once the user's password was set after the link was made, so using one link
voids the user's others. Using it sets the password (`sessions.set_password`, which ends
the user's sessions) and marks the link used in one transaction.

The mail goes straight to the SMTP relay (`smtp_host`, `smtp_port`, from `smtp_sender`),
not through the notification workflow: the token must reach no history or log. A mail
that cannot be sent leaves no valid link behind: the row is deleted again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import smtplib
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum

from sqlalchemy import Engine, delete, func, or_, update
from sqlmodel import Session, col, select
from starlette.requests import Request

from api.auth import Principal, article, digest
from api.errors import Conflict, Forbidden, NotFound, Unavailable
from db.invitations import PasswordLink
from db.read_model import SignInFailure, User, describe_error, utcnow, write_lock
from models.case import Role
from settings import Settings
from web import sessions
from web.render import aware

log = logging.getLogger("tierline.web.links")
TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]+")


class RedactLinkTokens(logging.Filter):
    """Keeps a link's token out of access logs (uvicorn logs each request's path with its
    query): whoever reads the log could otherwise use an unused link."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                TOKEN_IN_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


# Each SMTP step's limit, and the whole send's.
SMTP_TIMEOUT_SECONDS = 10
SEND_TIMEOUT_SECONDS = 20
# Reset mails one user gets in an hour; more requests send nothing (and say the same).
RESET_MAILS_PER_HOUR = 3
# Reset requests one client address may make in `sessions.FAILURE_WINDOW`; they are
# counted with the failed sign-ins, under a name no user can have.
RESET_ADDRESS_LIMIT = 5
RESET_REQUEST = "(password reset)"
# Users one reset request may match (several may share an e-mail address).
RESET_MATCHES = 5


class Purpose(StrEnum):
    invite = "invite"
    reset = "reset"


def lifetime(settings: Settings, purpose: Purpose) -> timedelta:
    if purpose is Purpose.invite:
        return timedelta(hours=settings.invite_link_hours)
    return timedelta(minutes=settings.reset_link_minutes)


PATHS = {Purpose.invite: "/console/welcome", Purpose.reset: "/console/reset"}
# Who may invite whom, besides admins (who may invite anyone).
INVITERS: dict[Role, tuple[Role, ...]] = {Role.agent: (Role.customer,)}


@dataclass(frozen=True)
class Sent:
    """A link on its way: to whom, and until when it works (never the token)."""

    user_id: str
    email: str
    purpose: Purpose
    expires_at: datetime


@dataclass(frozen=True)
class Holder:
    """Whom a usable link is for."""

    user_id: str
    name: str
    expires_at: datetime


class LinkUnusable(Exception):
    """A link that does not set a password: unknown (404), used, expired or voided (410)."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def base_url(request: Request) -> str:
    """Where the links point: `public_url`, or in the embedded stack the address the
    request came to. Elsewhere without `public_url` a link is refused (503): the request's
    Host header, which anyone can forge, would choose where a reset link points."""
    settings: Settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url
    if settings.embedded:
        return str(request.base_url)
    raise Unavailable("set PUBLIC_URL: links in mail are built from it outside the embedded stack")


def link_url(base: str, purpose: Purpose, token: str) -> str:
    return f"{base.rstrip('/')}{PATHS[purpose]}?token={token}"


# The link's life: issued, looked up, used.


def _issue(
    session: Session,
    user: User,
    purpose: Purpose,
    created_by: str | None,
    valid_for: timedelta,
) -> tuple[str, datetime]:
    """Add a link for the user (the caller commits): its token and when it expires."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + valid_for
    session.add(
        PasswordLink(
            digest=digest(token),
            user_id=user.id,
            purpose=purpose.value,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


def _discard(engine: Engine, token: str) -> None:
    with write_lock(engine), Session(engine) as session:
        session.exec(delete(PasswordLink).where(col(PasswordLink.digest) == digest(token)))
        session.commit()


def _usable(link: PasswordLink | None, user: User | None, purpose: Purpose) -> Holder:
    if link is None or user is None or link.purpose != purpose.value:
        raise LinkUnusable(
            404, "This link is not valid. Check that the whole address from the e-mail was used."
        )
    if link.used_at is not None:
        raise LinkUnusable(410, "This link has been used already: each link works once.")
    expires_at = aware(link.expires_at)
    if utcnow() >= expires_at:
        stamp = expires_at.strftime("%Y-%m-%d %H:%M UTC")
        raise LinkUnusable(410, f"This link expired at {stamp}.")
    if user.password_set_at is not None and aware(user.password_set_at) >= aware(link.created_at):
        raise LinkUnusable(
            410, "This link no longer works: the password has been set since it was sent."
        )
    return Holder(user.id, user.name, expires_at)


def look_up(engine: Engine, token: str, purpose: Purpose) -> Holder:
    """Whom the link is for, or `LinkUnusable` saying why it does nothing."""
    with Session(engine) as session:
        link = session.get(PasswordLink, digest(token[:200]))
        user = session.get(User, link.user_id) if link is not None else None
        return _usable(link, user, purpose)


def use(engine: Engine, token: str, purpose: Purpose, password: str) -> str:
    """Set the password through the link and mark it used, in one transaction; the user's
    sessions end and their failed sign-ins are forgotten. Returns the user's id."""
    key = digest(token[:200])
    with write_lock(engine), Session(engine) as session:
        link = session.get(PasswordLink, key)
        user = session.get(User, link.user_id) if link is not None else None
        _usable(link, user, purpose)
        assert user is not None
        # Only one use wins, however many arrive at once (on any API process).
        claimed = session.execute(
            update(PasswordLink)
            .where(col(PasswordLink.digest) == key)
            .where(col(PasswordLink.used_at).is_(None))
            .values(used_at=utcnow())
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise LinkUnusable(410, "This link has been used already: each link works once.")
        sessions.set_password(session, user, password)
        session.exec(delete(SignInFailure).where(col(SignInFailure.user_id) == user.id))
        session.commit()
        return user.id


# The mail.


def _message(
    settings: Settings, user: User, purpose: Purpose, link: str, expires_at: datetime, by: str
) -> EmailMessage:
    until = expires_at.astimezone(UTC).strftime("%A %d %B %Y, %H:%M UTC")
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = user.email
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="tierline")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if purpose is Purpose.invite:
        message["Subject"] = "You are invited to Tierline: choose your password"
        text = (
            f"Hello {user.name},\n\n"
            f"{by} invited you to Tierline. Choose your password here:\n\n"
            f"{link}\n\n"
            f"Your user name is {user.id}. The link works once, until {until}.\n\n"
            "If you did not expect this invitation, ignore this mail.\n"
        )
    else:
        message["Subject"] = "Reset your Tierline password"
        text = (
            f"Hello {user.name},\n\n"
            f"A new password was asked for your Tierline user {user.id}.\n"
            "Choose it here:\n\n"
            f"{link}\n\n"
            f"The link works once, until {until}. Setting the password signs you out\n"
            "everywhere.\n\n"
            "If you did not ask for it, ignore this mail: your password stays as it is.\n"
        )
    message.set_content(text)
    return message


def _deliver(settings: Settings, message: EmailMessage) -> None:
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        smtp.send_message(message)
    except BaseException:
        smtp.close()
        raise
    try:  # accepted: whatever QUIT answers, the mail is on its way
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _prepare(
    engine: Engine,
    settings: Settings,
    base: str,
    user_id: str,
    purpose: Purpose,
    created_by: Principal | None,
) -> tuple[str, EmailMessage, Sent]:
    """Check the user, store a link and write its mail: the token, the mail, what was sent."""
    with write_lock(engine), Session(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        if created_by is not None:
            _may_invite(created_by, user)
        if not user.email:
            raise Conflict(f"user {user_id} has no e-mail address to send the link to")
        if purpose is Purpose.invite and user.password_hash is not None:
            raise Conflict(
                f"{user_id} has a console password already; a forgotten one is reset "
                "with 'Forgot your password?' on the sign-in page"
            )
        by = session.get(User, created_by.id) if created_by is not None else None
        by_name = by.name if by is not None else "Tierline"
        token, expires_at = _issue(
            session,
            user,
            purpose,
            created_by.id if created_by else None,
            lifetime(settings, purpose),
        )
        link = link_url(base, purpose, token)
        mail = _message(settings, user, purpose, link, expires_at, by_name)
        sent = Sent(user.id, user.email, purpose, expires_at)
        session.commit()
        return token, mail, sent


def _may_invite(inviter: Principal, user: User) -> None:
    if inviter.role is Role.admin:
        return
    invitable = INVITERS.get(inviter.role, ())
    if user.role not in invitable:
        whom = ", ".join(f"{role.value}s" for role in invitable) or "nobody"
        raise Forbidden(
            f"{article(inviter.role.value)} may invite {whom} only; "
            f"{user.id} is {article(user.role)}"
        )


async def send(
    engine: Engine,
    settings: Settings,
    base: str,
    user_id: str,
    purpose: Purpose,
    created_by: Principal | None = None,
) -> Sent:
    """Store a link for the user and e-mail it; a mail the relay did not take leaves no
    link behind (`Unavailable`, 503, with the reason). An invitation names its sender,
    who must be allowed to invite the user (`INVITERS`)."""
    token, mail, sent = await asyncio.to_thread(
        _prepare, engine, settings, base, user_id, purpose, created_by
    )
    try:
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
            await asyncio.to_thread(_deliver, settings, mail)
    except OSError as err:  # SMTP errors and timeouts are OSErrors
        await asyncio.to_thread(_discard, engine, token)
        raise Unavailable(
            f"the e-mail to {sent.email} could not be sent, so no link was made: "
            + describe_error(err)
        ) from None
    return sent


async def invite(
    engine: Engine, settings: Settings, base: str, user_id: str, inviter: Principal
) -> Sent:
    """E-mail the user an invitation: a link that sets their first console password."""
    return await send(engine, settings, base, user_id, Purpose.invite, inviter)


# Forgotten passwords: one answer whoever is asked for.


def note_reset_request(engine: Engine, address: str) -> None:
    """Count a reset request from this client address; past `RESET_ADDRESS_LIMIT` in the
    window, `sessions.TooManyAttempts` (429 with Retry-After)."""
    since = utcnow() - sessions.FAILURE_WINDOW
    with write_lock(engine), Session(engine) as session:
        count, oldest = session.exec(
            select(func.count(), func.min(SignInFailure.at))
            .where(col(SignInFailure.user_id) == RESET_REQUEST)
            .where(col(SignInFailure.address) == address[:64])
            .where(col(SignInFailure.at) > since)
        ).one()
        if count >= RESET_ADDRESS_LIMIT and oldest is not None:
            wait = aware(oldest) + sessions.FAILURE_WINDOW - utcnow()
            raise sessions.TooManyAttempts(max(1, int(wait.total_seconds()) + 1))
        session.add(SignInFailure(user_id=RESET_REQUEST, address=address[:64]))
        session.commit()


def _reset_candidates(engine: Engine, who: str) -> list[str]:
    """The users named by id or e-mail address who have an address and have not had
    `RESET_MAILS_PER_HOUR` reset links in the last hour."""
    hour_ago = utcnow() - timedelta(hours=1)
    with Session(engine) as session:
        users = session.exec(
            select(User.id)
            .where(or_(col(User.id) == who, func.lower(col(User.email)) == who.lower()))
            .where(col(User.email).is_not(None))
            .order_by(col(User.id))
            .limit(RESET_MATCHES)
        ).all()
        chosen = []
        for user_id in users:
            recent = session.exec(
                select(func.count())
                .select_from(PasswordLink)
                .where(col(PasswordLink.user_id) == user_id)
                .where(col(PasswordLink.purpose) == Purpose.reset.value)
                .where(col(PasswordLink.created_at) > hour_ago)
            ).one()
            if recent < RESET_MAILS_PER_HOUR:
                chosen.append(user_id)
            else:
                log.warning("no reset mail for %s: %d in the last hour", user_id, recent)
    return chosen


# Resets go out one at a time per process, in the order they were asked for: the
# answers never wait on them, and a burst reaches the relay one mail after another.
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def send_resets(engine: Engine, settings: Settings, base: str, who: str) -> None:
    """E-mail a reset link to each user `who` names (an id or an e-mail address), if any.
    Run after the answer is sent, which is the same whether anyone was found; a failure
    is logged, never shown."""
    loop = asyncio.get_running_loop()
    turn = _turns.setdefault(loop, asyncio.Lock())
    async with turn:
        try:
            for user_id in await asyncio.to_thread(_reset_candidates, engine, who.strip()):
                try:
                    await send(engine, settings, base, user_id, Purpose.reset)
                except Unavailable as err:
                    log.warning("reset link for %s not sent: %s", user_id, err.detail)
        except Exception:
            log.exception("reset links for a request not sent")
