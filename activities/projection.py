"""Projection of case state into the read model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import activity

from models.case import CaseProjected

if TYPE_CHECKING:
    from sqlalchemy import Engine


class CaseProjection:
    """Writes case views into the read model; idempotent by (case, seq)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="project_case")
    def project_case(self, event: CaseProjected) -> None:
        """Upsert the case row unless a newer or equal sequence is already stored."""
        # Imported here so the workflow sandbox never loads SQL code through this module.
        from sqlmodel import Session

        from models.read_model import CaseRecord

        view = event.view
        with Session(self._engine) as session:
            row = session.get(CaseRecord, view.number, with_for_update=True)
            if row is not None and row.seq >= view.seq:
                return
            values: dict[str, Any] = {
                "case_id": view.case_id,
                "organisation": view.details.organisation,
                "company_name": view.details.company_name,
                "title": view.details.title,
                "severity": view.details.severity,
                "status": view.status.value,
                "tier": view.tier,
                "opened_at": view.opened_at,
                "updated_at": view.updated_at,
                "seq": view.seq,
                "view": view.model_dump(mode="json"),
            }
            if row is None:
                session.add(CaseRecord(number=view.number, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            session.commit()
