"""Idempotency claims name the API process that holds them; API processes' heartbeats;
agents stored with no tiers get every tier written out (an empty list no longer means
all).

Revision ID: c4a7e2b91d3f
Revises: 7b1f0c2d9e41
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a7e2b91d3f"
down_revision: str | Sequence[str] | None = "7b1f0c2d9e41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_instances",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("idempotent_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
    # Before this revision an agent with no tiers acted on every tier: say so explicitly.
    users = sa.table("users", sa.column("role", sa.String()), sa.column("tiers", sa.JSON()))
    op.execute(
        users.update()
        .where(users.c.role == "agent")
        .where(sa.cast(users.c.tiers, sa.String()).in_(["[]", "[ ]"]))
        .values(tiers=[1, 2, 3])
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotent_requests", schema=None) as batch_op:
        batch_op.drop_column("owner")
    op.drop_table("api_instances")
