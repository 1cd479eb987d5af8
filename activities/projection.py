"""Projection of case state into the read model.

A write the database refuses does not retry in silence: each failed attempt logs one line
(the case, the seq, the database's reason) and records the case in `projection_failures`,
which `/ready` reports until a write of that case succeeds and deletes the row. What it
writes has NUL replaced with U+FFFD (`db.read_model.storable`), so that character in a
case's content cannot block it on PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from models.case import CaseProjected
from observability.case_metrics import record_projection

if TYPE_CHECKING:
    from sqlalchemy import Engine


# The activity names, also read back from histories by audit.history.
PROJECT_CASE = "project_case"
PROJECT_CASE_LOCAL = "project_case_local"


class CaseProjection:
    """Writes case views into the read model; idempotent by (case, seq)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._built: tuple[Any, Any, Any] | None = None

    @activity.defn(name=PROJECT_CASE)
    def project_case(self, event: CaseProjected) -> None:
        """Insert new timeline events; upsert the case row unless a newer one is stored."""
        self._write(event, clean=False)

    @activity.defn(name=PROJECT_CASE_LOCAL)
    def project_case_local(self, projected: RawValue) -> RawValue:
        """The same write, run as a local activity in the workflow task that recorded the
        facts. A local activity's input is not in the history, so it returns what it
        projected (a `CaseProjected`), the payload as it came rather than encoded again:
        the marker that records its result keeps the events for audit."""
        data = projected.payload.data
        # JSON must escape NUL (as \u0000): a payload without that escape holds none.
        self._write(CaseProjected.model_validate_json(data), clean=b"\\u0000" not in data)
        return projected

    def _write(self, event: CaseProjected, clean: bool) -> None:
        """Write, or log one line, record the failure and raise for a retry."""
        # Imported here so the workflow sandbox never loads SQL code through this module.
        from sqlalchemy.exc import SQLAlchemyError

        view = event.view
        try:
            self._store(event, clean)
        except Exception as err:
            record_projection(None, failed=True)
            reason = self._failed(view.number, view.seq, err)
            if not isinstance(err, SQLAlchemyError):
                raise  # a bug: the SDK logs it with its traceback
            # The database's to fix (or the content's, which the retry cannot change): the
            # line above and /ready say so; the retry policy goes on, without a traceback.
            raise ApplicationError(
                f"case {view.number}: projection of seq {view.seq} not written: {reason}",
                type=type(err).__name__,
                category=ApplicationErrorCategory.BENIGN,
            ) from err

    def _store(self, event: CaseProjected, clean: bool) -> None:
        from db.read_model import storable, utcnow, write_lock

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
        projected_at = utcnow()
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
            "public_changed_at": projected_at
            if any(fact.public for fact in event.events)
            else None,
            "view": view.model_dump(mode="json"),
            "projected_at": projected_at,
        }
        if not clean:
            events, row = storable(events), storable(row)
        insert_events, upsert_case, forget_failure = self._statements()
        with write_lock(self._engine), self._engine.begin() as connection:
            if events:
                connection.execute(insert_events, events)
            connection.execute(upsert_case, row)
            connection.execute(forget_failure, {"number": view.number})
        if event.events:
            # From the change being recorded (the workflow's clock) to now, when it is held.
            recorded = max(fact.at for fact in event.events)
            record_projection((projected_at - recorded).total_seconds())

    def _failed(self, number: int, seq: int, err: Exception) -> str:
        """Log one line for the failed attempt and record it for /ready; the reason."""
        from sqlalchemy.exc import SQLAlchemyError

        from db.read_model import describe_error

        reason = describe_error(err)
        try:
            self._record_failure(number, seq, reason)
        except SQLAlchemyError as record_err:
            reason += f" (and not recorded: {describe_error(record_err)})"
        activity.logger.error(
            "case %d: projection of seq %d not written (attempt %d): %s",
            number,
            seq,
            activity.info().attempt,
            reason,
        )
        return reason

    def _record_failure(self, number: int, seq: int, reason: str) -> None:
        from sqlalchemy.dialects import postgresql, sqlite

        from db.read_model import ProjectionFailure, utcnow, write_lock

        table = ProjectionFailure.__table__  # type: ignore[attr-defined]
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        now = utcnow()
        statement = insert(table).values(
            case_number=number,
            seq=seq,
            error=reason,
            attempts=1,
            first_failed_at=now,
            last_failed_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.case_number],
            set_={
                "seq": statement.excluded.seq,
                "error": statement.excluded.error,
                "attempts": table.c.attempts + 1,
                "last_failed_at": statement.excluded.last_failed_at,
            },
        )
        with write_lock(self._engine), self._engine.begin() as connection:
            connection.execute(statement)

    def _statements(self) -> tuple[Any, Any, Any]:
        """The writes, built once per projection (SQLAlchemy then reuses their compiled
        SQL; building them anew per event cost more than the writes)."""
        if self._built is None:
            self._built = _projection_statements(self._engine.dialect.name)
        return self._built


def _projection_statements(dialect: str) -> tuple[Any, Any, Any]:
    from sqlalchemy import bindparam, delete, func
    from sqlalchemy.dialects import postgresql, sqlite

    from db.read_model import CaseEventRecord, CaseRecord, ProjectionFailure

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    events = CaseEventRecord.__table__  # type: ignore[attr-defined]
    insert_events = insert(events).on_conflict_do_nothing(index_elements=["case_number", "seq"])
    cases = CaseRecord.__table__  # type: ignore[attr-defined]
    upsert = insert(cases).values(
        {name: bindparam(name) for name in (*FIXED, *CHANGING, "public_changed_at")}
    )
    # A replayed or late projection (an older seq) changes nothing: events are keyed by
    # (case, seq), and the row only moves forward.
    changing: dict[str, Any] = {name: upsert.excluded[name] for name in CHANGING}
    # A batch without a public event keeps the instant the public part last changed.
    changing["public_changed_at"] = func.coalesce(
        upsert.excluded.public_changed_at, cases.c.public_changed_at
    )
    upsert_case = upsert.on_conflict_do_update(
        index_elements=[cases.c.number],
        set_=changing,
        where=cases.c.seq < upsert.excluded.seq,
    )
    failures = ProjectionFailure.__table__  # type: ignore[attr-defined]
    # A write of the case that succeeds ends its failure, whichever seq failed.
    forget_failure = delete(failures).where(failures.c.case_number == bindparam("number"))
    return insert_events, upsert_case, forget_failure


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
    "projected_at",
)
