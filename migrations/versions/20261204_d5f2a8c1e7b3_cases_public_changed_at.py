"""When a case's customer-visible part last changed (cases.public_changed_at, the
projection's clock): the live feed pushes a customer's screens only for those changes, so
internal notes, assignments and clock events do not show their timing. Existing rows
start without one (nothing recent to push).

Revision ID: d5f2a8c1e7b3
Revises: c3e7a1b5d9f2
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d5f2a8c1e7b3"
down_revision: str | Sequence[str] | None = "c3e7a1b5d9f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("public_changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("public_changed_at")
