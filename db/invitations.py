"""One-time links that set a console password: invitations and resets (web/links.py).

The e-mailed token is never stored, only its SHA-256, as for sessions and API tokens. A
row stays after its link is used or expired: it records who invited whom, and when.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from db.read_model import utcnow


class PasswordLink(SQLModel, table=True):
    """A link e-mailed to a user: `invite` (sent by an admin or agent) or `reset` (asked
    for on the forgotten-password page). It works once, until `expires_at`, and not at all
    once the user's password was set after it was made."""

    __tablename__ = "password_links"

    digest: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(index=True, foreign_key="users.id", max_length=200)
    purpose: str = Field(max_length=10, description="invite or reset")
    created_by: str | None = Field(
        default=None, max_length=200, description="who invited; None for a reset asked for"
    )
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
