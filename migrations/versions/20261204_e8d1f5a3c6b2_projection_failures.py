"""Cases whose projection the database refuses, while it does (projection_failures), for
/health to report.

Revision ID: e8d1f5a3c6b2
Revises: c4a7e2b91d3f
Create Date: 2026-12-04 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8d1f5a3c6b2"
down_revision: str | Sequence[str] | None = "c4a7e2b91d3f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projection_failures",
        sa.Column("case_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_number"),
    )


def downgrade() -> None:
    op.drop_table("projection_failures")
