"""Bearer tokens, the caller's identity, and permissions as route dependencies."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Header
from pydantic import BaseModel
from sqlalchemy import Engine, bindparam
from sqlalchemy import select as sql_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.deps import EngineDep
from api.errors import Forbidden, Unauthenticated
from db.read_model import ApiToken, User, WebSession
from models.case import Actor, Role

TOKEN_PREFIX = "tl_"


class Principal(BaseModel):
    """Who is calling: the user, its role, its organisation (customers) and tiers (agents)."""

    id: str
    role: Role
    organisation: str | None = None
    tiers: list[int] = []

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=self.role)

    def sees_organisation(self, organisation: str) -> bool:
        return self.role is not Role.customer or self.organisation == organisation


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(session: Session, user_id: str, label: str = "") -> tuple[ApiToken, str]:
    """Create a token for a user; the plain token is returned once and never stored."""
    token = new_token()
    row = ApiToken(user_id=user_id, digest=digest(token), label=label)
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, token


# The caller behind a token digest, in one query (an outer join: a token whose user is
# gone says so).
CALLER = (
    sql_select(ApiToken.revoked_at, User.id, User.role, User.organisation, User.tiers)  # type: ignore[call-overload]
    .select_from(ApiToken)
    .outerjoin(User, User.id == ApiToken.user_id)
    .where(ApiToken.digest == bindparam("digest"))
)


def bearer_digest(authorization: str | None) -> str:
    """The digest of the header's bearer token (401 without one)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    return digest(token)


def principal_from(row: Any) -> Principal:
    """The caller from a row of `CALLER` (or a statement that starts with its columns)."""
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("the token is unknown or revoked")
    if row.id is None:
        raise Unauthenticated("the token's user no longer exists")
    return Principal(id=row.id, role=Role(row.role), organisation=row.organisation, tiers=row.tiers)


def authenticate(
    engine: EngineDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    # A short connection of its own: the request may then wait on Temporal holding none.
    token_digest = bearer_digest(authorization)
    with engine.connect() as connection:
        row = connection.execute(CALLER, {"digest": token_digest}).first()
    return principal_from(row)


def article(noun: str) -> str:
    """`an auditor`, `a customer`."""
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def check_role(user: Principal, roles: tuple[Role, ...]) -> None:
    """403 unless the caller has one of these roles (admins always may)."""
    if user.role not in (*roles, Role.admin):
        allowed = ", ".join(dict.fromkeys(role.value for role in (*roles, Role.admin)))
        raise Forbidden(f"{article(user.role.value)} may not do this; allowed: {allowed}")


def check_tier(user: Principal, number: int, tier: int) -> None:
    """403 unless the caller may act on case `number`, in `tier`: an agent only in the
    tiers they work (none, if they have none); the other roles are not bound to tiers."""
    if user.role is Role.agent and tier not in user.tiers:
        worked = "tiers " + ", ".join(map(str, user.tiers)) if user.tiers else "no tier"
        raise Forbidden(f"case {number} is in tier {tier}; you work {worked}")


CurrentUser = Annotated[Principal, Depends(authenticate)]


def require(*roles: Role) -> Any:
    """A dependency that lets only these roles (and admins) through."""

    async def check(user: CurrentUser) -> Principal:  # no I/O: off the thread pool
        check_role(user, roles)
        return user

    return Depends(check)


ADMIN_PASSWORD_FILE = "admin-password"


def _secret_file(var_dir: Path, name: str, value: str) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / name
    path.write_text(value + "\n")
    path.chmod(0o600)


def bootstrap_admin(engine: Engine, var_dir: Path) -> str | None:
    """Create the first admin, its token and a first-login console password when there is
    no admin yet.

    The token goes to `var/admin-token` and the password to `var/admin-password` (mode
    600) for the embedded stack; the token is returned so the launcher can print it.
    Returns None when an admin exists.
    """
    # Imported here: web.sessions builds on this module.
    from web import passwords

    with Session(engine) as session:
        if session.exec(select(User).where(User.role == Role.admin.value)).first() is not None:
            return None
        password = passwords.new_password()
        session.add(
            User(
                id="admin",
                name="Administrator",
                role=Role.admin.value,
                password_hash=passwords.hash_password(password),
                password_set_at=datetime.now(UTC),
            )
        )
        try:
            session.commit()
        except IntegrityError:
            return None  # another process bootstrapped at the same moment
        _, token = issue_token(session, "admin", label="bootstrap")
    _secret_file(var_dir, "admin-token", token)
    _secret_file(var_dir, ADMIN_PASSWORD_FILE, password)
    return token


def revoke(session: Session, token_id: int) -> ApiToken | None:
    """Revoke a token; the user's console sessions end with it (revoking is how an admin
    cuts a user off)."""
    row = session.get(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        for web_session in session.exec(
            select(WebSession).where(WebSession.user_id == row.user_id)
        ).all():
            session.delete(web_session)
        session.commit()
    return row
