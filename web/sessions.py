"""Console sessions: a random cookie whose SHA-256 names a server-side row.

A session ends at sign-out, after `session_idle_minutes` unused, `session_max_hours`
after sign-in, and whenever the user's password is set or one of their tokens revoked
(`end_all`). Failed sign-ins are counted per user and per client address; past the
limits a sign-in waits (429 with Retry-After) however right the password is.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, func, or_
from sqlmodel import Session, col, select

from api.auth import Principal
from db.read_model import SignInFailure, User, WebSession, utcnow, write_lock
from models.case import Role
from settings import Settings
from web import passwords
from web.render import aware

COOKIE = "tierline_session"
# Seen-at is written at most this often: a page view needs no write.
TOUCH_EVERY = timedelta(minutes=1)
FAILURE_WINDOW = timedelta(minutes=15)


def digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(frozen=True)
class WebPrincipal:
    """A signed-in user and their session's CSRF token."""

    user: Principal
    name: str
    csrf_token: str
    digest: str


class SignInRefused(Exception):
    """Wrong name or password (one message for both: names are not to be probed)."""


def wait_words(seconds: int) -> str:
    """`40 seconds`, `1 minute`, `15 minutes` (a started minute counts whole)."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {wait_words(retry_after)}")
        self.retry_after = retry_after


def _retry_after(session: Session, column: object, value: str, limit: int) -> int | None:
    """Seconds to wait when the attempts in the window, this one's own row among them,
    are more than `limit`; None when it may go on."""
    since = utcnow() - FAILURE_WINDOW
    count, oldest = session.exec(
        select(func.count(), func.min(SignInFailure.at)).where(
            column == value,
            col(SignInFailure.at) > since,
        )
    ).one()
    if count <= limit or oldest is None:
        return None
    if oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    return max(1, int((oldest + FAILURE_WINDOW - utcnow()).total_seconds()) + 1)


def sign_in(
    engine: Engine, settings: Settings, user_id: str, password: str, address: str
) -> tuple[str, WebPrincipal]:
    """Check the password and open a session: the cookie (shown once) and who it is.

    Every attempt is written as a failure before its password is checked, and the limits
    count it with all the others: of guesses sent at once, the later to count sees the
    earlier, so no more than the limit get through by racing. An attempt turned away
    unchecked takes its row back (it was no failure), and so does a right password."""
    name, where = user_id[:200], address[:64]
    with Session(engine) as session:
        with write_lock(engine):
            # Rows past the window count for nothing: they go as new ones come.
            session.exec(
                delete(SignInFailure).where(col(SignInFailure.at) <= utcnow() - FAILURE_WINDOW)
            )
            attempt = SignInFailure(user_id=name, address=where)
            session.add(attempt)
            session.commit()
            session.refresh(attempt)
        for column, value, limit in (
            (SignInFailure.user_id, name, settings.sign_in_limit),
            (SignInFailure.address, where, settings.sign_in_address_limit),
        ):
            wait = _retry_after(session, column, value, limit)
            if wait is not None:
                with write_lock(engine):
                    session.delete(attempt)
                    session.commit()
                raise TooManyAttempts(wait)
        user = session.get(User, user_id)
        ok, rehashed = passwords.verify(password, user.password_hash if user else None)
        if not ok or user is None:
            raise SignInRefused("wrong user name or password")
        with write_lock(engine):
            if rehashed is not None:
                user.password_hash = rehashed
                session.add(user)
            session.exec(
                delete(SignInFailure).where(
                    or_(
                        col(SignInFailure.user_id) == user_id,
                        col(SignInFailure.id) == attempt.id,
                    )
                )
            )
            cookie = secrets.token_urlsafe(32)
            row = WebSession(
                digest=digest(cookie),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                address=where,
            )
            session.add(row)
            session.commit()
            return cookie, _principal(user, row)


def _principal(user: User, row: WebSession) -> WebPrincipal:
    principal = Principal(
        id=user.id, role=Role(user.role), organisation=user.organisation, tiers=user.tiers
    )
    return WebPrincipal(principal, user.name, row.csrf_token, row.digest)


def lookup(
    engine: Engine, settings: Settings, cookie: str | None, touch: bool = True
) -> WebPrincipal | None:
    """The session's user, or None when there is none or it has ended. `touch=False`
    leaves its idle time running (an open live stream is not the user at work)."""
    if not cookie or len(cookie) > 200:
        return None
    key = digest(cookie)
    with Session(engine) as session:
        found = session.exec(
            select(WebSession, User)
            .join(User, col(User.id) == col(WebSession.user_id))
            .where(WebSession.digest == key)
        ).first()
        if found is None:
            return None
        row, user = found
        now = utcnow()
        idle = timedelta(minutes=settings.session_idle_minutes)
        if (
            now - aware(row.seen_at) > idle
            or now - aware(row.created_at) > timedelta(hours=settings.session_max_hours)
            or user.password_hash is None
        ):
            with write_lock(engine):
                session.delete(row)
                session.commit()
            return None
        principal = _principal(user, row)
        if touch and now - aware(row.seen_at) > TOUCH_EVERY:
            with write_lock(engine):
                row.seen_at = now
                session.add(row)
                session.commit()
        return principal


def end(engine: Engine, key: str) -> None:
    with write_lock(engine), Session(engine) as session:
        session.exec(delete(WebSession).where(col(WebSession.digest) == key))
        session.commit()


def end_all(session: Session, user_id: str) -> None:
    """End every session of the user (the caller commits)."""
    session.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))


def set_password(session: Session, user: User, password: str) -> None:
    """Set the user's password and end their sessions (the caller commits)."""
    user.password_hash = passwords.hash_password(password)
    user.password_set_at = utcnow()
    session.add(user)
    end_all(session, user.id)
