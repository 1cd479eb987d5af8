"""Projection of case state into the read model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import activity

from models.case import CaseProjected

if TYPE_CHECKING:
    from sqlalchemy import Engine


# The activity names, also read back from histories by audit.history.
PROJECT_CASE = "project_case"
PROJECT_CASE_LOCAL = "project_case_local"


class CaseProjection:
    """Writes case views into the read model; idempotent by (case, seq)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=PROJECT_CASE)
    def project_case(self, event: CaseProjected) -> None:
        """Insert new timeline events; upsert the case row unless a newer one is stored."""
        self._write(event)

    @activity.defn(name=PROJECT_CASE_LOCAL)
    def project_case_local(self, event: CaseProjected) -> CaseProjected:
        """The same write, run as a local activity in the workflow task that recorded the
        facts. A local activity's input is not in the history, so it returns what it
        projected: the marker that records its result keeps the events for audit."""
        self._write(event)
        return event

    def _write(self, event: CaseProjected) -> None:
        # Imported here so the workflow sandbox never loads SQL code through this module.
        from sqlalchemy.dialects import postgresql, sqlite

        from models.read_model import CaseEventRecord, CaseRecord, write_lock

        view = event.view
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        events = [
            {
                "case_number": view.number,
                "seq": fact.seq,
                "at": fact.at,
                "kind": fact.kind,
                "actor_id": fact.actor.id,
                "actor_role": fact.actor.role.value,
                "reason": fact.reason,
                "public": fact.public,
                "data": fact.data,
            }
            for fact in event.events
        ]
        # What a case's later views may change; title and details never do, and leaving
        # them out of the update keeps SQLite's text-search trigger from firing.
        changing: dict[str, Any] = {
            "severity": view.severity,
            "status": view.status.value,
            "tier": view.tier,
            "assignee": view.assignee,
            "breached": view.breached,
            "next_due_at": view.next_due_at,
            "updated_at": view.updated_at,
            "seq": view.seq,
            "view": view.model_dump(mode="json"),
        }
        cases = CaseRecord.__table__  # type: ignore[attr-defined]
        upsert = insert(cases).values(
            number=view.number,
            case_id=view.case_id,
            organisation=view.details.organisation,
            company_name=view.details.company_name,
            title=view.details.title,
            details=view.details.details,
            opened_at=view.opened_at,
            **changing,
        )
        # A replayed or late projection (an older seq) changes nothing: events are keyed
        # by (case, seq), and the row only moves forward.
        upsert = upsert.on_conflict_do_update(
            index_elements=[cases.c.number],
            set_={name: upsert.excluded[name] for name in changing},
            where=cases.c.seq < upsert.excluded.seq,
        )
        with write_lock(self._engine), self._engine.begin() as connection:
            if events:
                connection.execute(
                    insert(CaseEventRecord.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
                        index_elements=["case_number", "seq"]
                    ),
                    events,
                )
            connection.execute(upsert)
