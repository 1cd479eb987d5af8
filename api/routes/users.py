"""Users and their tokens (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlmodel import col, select

from api import auth
from api.auth import require
from api.deps import MAX_ID, SessionDep
from api.errors import Conflict, InvalidField, NotFound
from api.idempotency import IDEMPOTENT
from api.schemas import PasswordSet, TokenCreate, TokenCreated, TokenRead, UserCreate, UserRead
from db.read_model import ApiToken, Organisation, User
from models.case import Role
from web import passwords, sessions

router = APIRouter(tags=["users"], dependencies=[require()])


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    dependencies=[IDEMPOTENT],
)
def create_user(body: UserCreate, session: SessionDep) -> UserRead:
    """Create a user in one role; customers belong to one organisation."""
    if (body.role is Role.customer) != (body.organisation is not None):
        raise InvalidField("body.organisation", "customers need one; other roles have none")
    if body.organisation and session.get(Organisation, body.organisation) is None:
        raise InvalidField("body.organisation", f"organisation {body.organisation} does not exist")
    if session.get(User, body.id) is not None:
        raise Conflict(f"user {body.id} exists already")
    session.add(User(**body.model_dump(mode="json")))
    session.commit()
    return UserRead.model_validate(body.model_dump())


@router.get("/users", response_model=list[UserRead])
def list_users(session: SessionDep) -> list[UserRead]:
    """Every user."""
    rows = session.exec(select(User).order_by(col(User.id))).all()
    return [UserRead.model_validate(row, from_attributes=True) for row in rows]


@router.put(
    "/users/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: {"description": "Set; the user's console sessions have ended"}},
)
def set_password(user_id: str, body: PasswordSet, session: SessionDep) -> Response:
    """Set or reset a user's console password; their open sessions end."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    wrong = passwords.problem(body.password)
    if wrong is not None:
        raise InvalidField("body.password", wrong)
    sessions.set_password(session, user, body.password)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/{user_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    dependencies=[IDEMPOTENT],
)
def create_token(user_id: str, body: TokenCreate, session: SessionDep) -> TokenCreated:
    """Issue a bearer token; it is shown in this response only."""
    if session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} does not exist")
    row, token = auth.issue_token(session, user_id, body.label)
    return TokenCreated(
        **TokenRead.model_validate(row, from_attributes=True).model_dump(), token=token
    )


@router.get("/users/{user_id}/tokens", response_model=list[TokenRead])
def list_tokens(user_id: str, session: SessionDep) -> list[TokenRead]:
    """A user's tokens (digests are never shown)."""
    rows = session.exec(select(ApiToken).where(ApiToken.user_id == user_id)).all()
    return [TokenRead.model_validate(row, from_attributes=True) for row in rows]


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep) -> TokenRead:
    """Revoke a token; it stops working at once."""
    row = auth.revoke(session, token_id)
    if row is None:
        raise NotFound(f"token {token_id} does not exist")
    return TokenRead.model_validate(row, from_attributes=True)
