"""A workflow that asks `due_at` from inside the SDK's sandbox, for the cache test."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from policies.business_time import due_at
    from policies.snapshot import CalendarSnapshot, TimeBasis


class DueQuestion(BaseModel):
    start: datetime
    seconds: int
    calendar: CalendarSnapshot


@workflow.defn
class DueAtWorkflow:
    """Answers one business-time question on the calendar it was started with."""

    @workflow.run
    async def run(self, question: DueQuestion) -> datetime:
        return due_at(question.start, question.seconds, TimeBasis.business, question.calendar)
