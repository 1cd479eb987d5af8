"""The e-mail channel: inbound mail recorded before it is acknowledged, case attachments,
and the Message-ID of each notification sent (a reply's In-Reply-To finds its case).

Revision ID: f3b9c1d2a7e4
Revises: e8d1f5a3c6b2
Create Date: 2026-12-04 10:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3b9c1d2a7e4"
down_revision: str | Sequence[str] | None = "e8d1f5a3c6b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("envelope_sender", sa.String(length=320), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("organisation", sa.String(length=100), nullable=True),
        sa.Column("case_number", sa.Integer(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender", "message_id", name="uq_inbound_mail_message"),
    )
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_mail_received_at"), ["received_at"])
        batch_op.create_index(batch_op.f("ix_inbound_mail_sender"), ["sender"])
        batch_op.create_index(batch_op.f("ix_inbound_mail_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_inbound_mail_organisation"), ["organisation"])
        batch_op.create_index(batch_op.f("ix_inbound_mail_case_number"), ["case_number"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("inbound_mail_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachments_case_number"), ["case_number"])
        batch_op.create_index(batch_op.f("ix_attachments_organisation"), ["organisation"])
        batch_op.create_index(batch_op.f("ix_attachments_inbound_mail_id"), ["inbound_mail_id"])
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_notifications_message_id"), ["message_id"])


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_message_id"))
        batch_op.drop_column("message_id")
    op.drop_table("attachments")
    op.drop_table("inbound_mail")
