"""The case projection on SQLite and PostgreSQL: content PostgreSQL would refuse is
written with U+FFFD in place of NUL, and a projection the database refuses fails each
attempt in one line, is recorded for `/ready`, and is forgotten once a write succeeds."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from activities.projection import CaseProjection
from db.read_model import CaseEventRecord, CaseRecord, ProjectionFailure
from models import transitions
from models.case import CaseEvent, CaseProjected
from tests.activities.refusals import refusing
from tests.builders import open_case

OPENED = datetime(2026, 3, 2, 9, tzinfo=UTC)


def opening(number: int, **details: Any) -> CaseProjected:
    """What the workflow projects when it opens a case: its view and first events."""
    state, facts = transitions.open_case(
        open_case(number, "short-sla:fast", OPENED, severity="normal", **details), OPENED
    )
    events = [CaseEvent(seq=i, at=OPENED, **fact.model_dump()) for i, fact in enumerate(facts, 1)]
    state = state.model_copy(update={"seq": len(events)})
    return CaseProjected(view=transitions.view(state, OPENED), events=events)


def raw(projected: CaseProjected) -> RawValue:
    """The local activity's input as the workflow hands it over: an encoded payload."""
    return RawValue(pydantic_data_converter.payload_converter.to_payloads([projected])[0])


def attempt(number: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number)
    return env


def failures(engine: Engine) -> list[ProjectionFailure]:
    with Session(engine) as session:
        return list(session.exec(select(ProjectionFailure)))


@pytest.mark.parametrize("local", [True, False], ids=["local", "regular"])
def test_content_with_nul_is_projected_with_a_replacement_character(
    read_model: Engine, local: bool
) -> None:
    projection = CaseProjection(read_model)
    projected = opening(7, title="Export\x00fails", details="Rows\x00 are missing")
    if local:
        ActivityEnvironment().run(projection.project_case_local, raw(projected))
    else:
        ActivityEnvironment().run(projection.project_case, projected)

    with Session(read_model) as session:
        row = session.get(CaseRecord, 7)
        assert row is not None
        assert (row.title, row.details) == ("Export\ufffdfails", "Rows\ufffd are missing")
        assert row.view["details"]["title"] == "Export\ufffdfails"
        events = list(session.exec(select(CaseEventRecord)))
        assert [e.seq for e in events] == [e.seq for e in projected.events]
        assert "\x00" not in repr([e.data for e in events])
    assert failures(read_model) == []


def test_a_projection_that_cannot_be_written_surfaces_until_it_is(
    read_model: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    projection = CaseProjection(read_model)
    projected = opening(7)
    seq = projected.view.seq
    with refusing(read_model, "case_events", "INSERT"):
        for number in (1, 2):
            caplog.clear()
            with caplog.at_level(logging.WARNING), pytest.raises(ApplicationError) as raised:
                attempt(number).run(projection.project_case_local, raw(projected))
            # Retried, without the SDK's traceback for each attempt.
            assert raised.value.category is ApplicationErrorCategory.BENIGN
            assert not raised.value.non_retryable
            logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert all(r.exc_info is None for r in logged)
            # psycopg may add a line of its own when a batch it pipelined fails.
            (line,) = [r for r in logged if r.name == "temporalio.activity"]
            assert line.levelno == logging.ERROR
            message = line.getMessage()
            assert f"case 7: projection of seq {seq} not written (attempt {number})" in message
            assert "refused by the test" in message
            assert "INSERT" not in message  # the driver's reason, not the statement
        (failure,) = failures(read_model)
        assert (failure.case_number, failure.seq, failure.attempts) == (7, seq, 2)
        assert "refused by the test" in failure.error
        assert failure.first_failed_at <= failure.last_failed_at

    attempt(3).run(projection.project_case_local, raw(projected))
    assert failures(read_model) == []
    with Session(read_model) as session:
        assert session.get(CaseRecord, 7) is not None


def test_a_failure_of_another_case_stays_recorded(read_model: Engine) -> None:
    projection = CaseProjection(read_model)
    with (
        refusing(read_model, "cases", "INSERT", when="NEW.number = 8"),
        pytest.raises(ApplicationError),
    ):
        ActivityEnvironment().run(projection.project_case, opening(8))
    ActivityEnvironment().run(projection.project_case, opening(9))
    assert [f.case_number for f in failures(read_model)] == [8]
