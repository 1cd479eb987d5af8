"""Projection of release state into the read model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import activity

from models.release import ReleaseView

if TYPE_CHECKING:
    from sqlalchemy import Engine


class ReleaseProjection:
    """Writes release views into the read model; idempotent by (version, event count)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="project_release")
    def project_release(self, view: ReleaseView) -> None:
        """Upsert the release row unless a newer one is stored."""
        from sqlmodel import Session

        from db.read_model import ReleaseRecord, write_lock

        seq = len(view.events)
        with write_lock(self._engine), Session(self._engine) as session:
            row = session.get(ReleaseRecord, view.version, with_for_update=True)
            if row is not None and row.seq >= seq:
                session.commit()
                return
            values: dict[str, Any] = {
                "kind": view.kind.value,
                "status": view.status.value,
                "planned_date": view.planned_date,
                "hotfix_build": view.hotfix_build,
                "linked_cases": len(view.cases),
                "planned_at": view.events[0].at,
                "shipped_at": view.shipped_at,
                "cancelled_reason": view.cancelled_reason,
                "updated_at": view.events[-1].at,
                "seq": seq,
            }
            if row is None:
                session.add(ReleaseRecord(version=view.version, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            session.commit()
