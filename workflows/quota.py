"""The quota workflow: counts one organisation's cases in one month of its plan's zone."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.quota import QuotaPeriod, ReserveSlot, SlotReserved

# Kept a while past the month so a late retry of a reservation still finds its answer.
GRACE = timedelta(days=2)


@workflow.defn
class QuotaWorkflow:
    """Hands out the month's incident slots one update at a time, so of two requests
    racing for the last slot exactly one wins.

    Updates: `reserve` (validator refuses when the month is used up; a case that holds
    a slot already gets it again). Queries: `used`.
    """

    @workflow.init
    def __init__(self, period: QuotaPeriod) -> None:
        self._period = period
        self._cases: list[int] = []

    @workflow.run
    async def run(self, period: QuotaPeriod) -> list[int]:
        remaining = (period.ends_at + GRACE - workflow.now()).total_seconds()
        if remaining > 0:
            await workflow.sleep(remaining)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._cases

    @workflow.update
    def reserve(self, request: ReserveSlot) -> SlotReserved:
        if request.case_number not in self._cases:
            self._cases.append(request.case_number)
        return SlotReserved(
            case_number=request.case_number, used=len(self._cases), limit=self._period.limit
        )

    @reserve.validator
    def _reserve(self, request: ReserveSlot) -> None:
        if request.case_number in self._cases:
            return
        if len(self._cases) >= self._period.limit:
            raise ApplicationError(
                f"organisation {self._period.organisation} has used all "
                f"{self._period.limit} incidents of {self._period.month}",
                type="QuotaExhausted",
            )

    @workflow.query
    def used(self) -> list[int]:
        return list(self._cases)
