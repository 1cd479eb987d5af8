"""Recording a notice's delivery outcome in the read model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from temporalio import activity

from models.notice import NoticeDelivered

if TYPE_CHECKING:
    from sqlalchemy import Engine


class NoticeProjection:
    """Writes a notice's outcome into its row; idempotent (the same outcome twice is one)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_notice_outcome")
    def record_outcome(self, outcome: NoticeDelivered) -> None:
        """Mark the notice delivered (or failed, where a message could not be sent)."""
        from sqlmodel import Session

        from db.read_model import NoticeRecord, write_lock

        with write_lock(self._engine), Session(self._engine) as session:
            row = session.get(NoticeRecord, outcome.notice_id)
            if row is None or row.completed_at is not None:
                return
            row.status = "delivered" if outcome.failed == 0 else "failed"
            row.messages = outcome.messages
            row.delivered = outcome.delivered
            row.failed = outcome.failed
            row.completed_at = datetime.now(UTC)
            session.add(row)
            session.commit()
