"""Projection of case state into the read model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.common import RawValue

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
        self._built: tuple[Any, Any] | None = None

    @activity.defn(name=PROJECT_CASE)
    def project_case(self, event: CaseProjected) -> None:
        """Insert new timeline events; upsert the case row unless a newer one is stored."""
        self._write(event)

    @activity.defn(name=PROJECT_CASE_LOCAL)
    def project_case_local(self, projected: RawValue) -> RawValue:
        """The same write, run as a local activity in the workflow task that recorded the
        facts. A local activity's input is not in the history, so it returns what it
        projected (a `CaseProjected`), the payload as it came rather than encoded again:
        the marker that records its result keeps the events for audit."""
        self._write(CaseProjected.model_validate_json(projected.payload.data))
        return projected

    def _write(self, event: CaseProjected) -> None:
        # Imported here so the workflow sandbox never loads SQL code through this module.
        from models.read_model import write_lock

        view = event.view
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
        row = {
            "number": view.number,
            "case_id": view.case_id,
            "organisation": view.details.organisation,
            "company_name": view.details.company_name,
            "title": view.details.title,
            "details": view.details.details,
            "opened_at": view.opened_at,
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
        insert_events, upsert_case = self._statements()
        with write_lock(self._engine), self._engine.begin() as connection:
            if events:
                connection.execute(insert_events, events)
            connection.execute(upsert_case, row)

    def _statements(self) -> tuple[Any, Any]:
        """The two writes, built once per projection (SQLAlchemy then reuses their
        compiled SQL; building them anew per event cost more than the writes)."""
        if self._built is None:
            self._built = _projection_statements(self._engine.dialect.name)
        return self._built


def _projection_statements(dialect: str) -> tuple[Any, Any]:
    from sqlalchemy import bindparam
    from sqlalchemy.dialects import postgresql, sqlite

    from models.read_model import CaseEventRecord, CaseRecord

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    events = CaseEventRecord.__table__  # type: ignore[attr-defined]
    insert_events = insert(events).on_conflict_do_nothing(index_elements=["case_number", "seq"])
    cases = CaseRecord.__table__  # type: ignore[attr-defined]
    upsert = insert(cases).values({name: bindparam(name) for name in (*FIXED, *CHANGING)})
    # A replayed or late projection (an older seq) changes nothing: events are keyed by
    # (case, seq), and the row only moves forward.
    upsert_case = upsert.on_conflict_do_update(
        index_elements=[cases.c.number],
        set_={name: upsert.excluded[name] for name in CHANGING},
        where=cases.c.seq < upsert.excluded.seq,
    )
    return insert_events, upsert_case


# A case row's columns set once, when the case is first projected.
FIXED = ("number", "case_id", "organisation", "company_name", "title", "details", "opened_at")
# What a case's later views may change; title and details never do, and leaving them out
# of the update keeps SQLite's text-search trigger from firing.
CHANGING = (
    "severity",
    "status",
    "tier",
    "assignee",
    "breached",
    "next_due_at",
    "updated_at",
    "seq",
    "view",
)
