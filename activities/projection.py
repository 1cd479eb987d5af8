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
        """Insert new timeline events; upsert the case row unless a newer one is stored."""
        self._write(event)

    @activity.defn(name="project_case_local")
    def project_case_local(self, event: CaseProjected) -> CaseProjected:
        """The same write, run as a local activity in the workflow task that recorded the
        facts. A local activity's input is not in the history, so it returns what it
        projected: the marker that records its result keeps the events for audit."""
        self._write(event)
        return event

    def _write(self, event: CaseProjected) -> None:
        # Imported here so the workflow sandbox never loads SQL code through this module.
        from sqlmodel import Session

        from models.read_model import CaseEventRecord, CaseRecord, write_lock

        view = event.view
        with write_lock(self._engine), Session(self._engine) as session:
            for fact in event.events:
                if session.get(CaseEventRecord, (view.number, fact.seq)) is None:
                    session.add(
                        CaseEventRecord(
                            case_number=view.number,
                            seq=fact.seq,
                            at=fact.at,
                            kind=fact.kind,
                            actor_id=fact.actor.id,
                            actor_role=fact.actor.role.value,
                            reason=fact.reason,
                            public=fact.public,
                            data=fact.data,
                        )
                    )
            row = session.get(CaseRecord, view.number, with_for_update=True)
            if row is not None and row.seq >= view.seq:
                session.commit()
                return
            values: dict[str, Any] = {
                "case_id": view.case_id,
                "organisation": view.details.organisation,
                "company_name": view.details.company_name,
                "title": view.details.title,
                "details": view.details.details,
                "severity": view.severity,
                "status": view.status.value,
                "tier": view.tier,
                "assignee": view.assignee,
                "breached": view.breached,
                "next_due_at": view.next_due_at,
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
