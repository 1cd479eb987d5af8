"""The case workflow: one durable workflow per support case."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.projection import CaseProjection
    from models.case import CaseProjected, CaseStatus, CaseView, OpenCase, case_workflow_id
    from workflows.search_attributes import (
        CASE_ORGANISATION,
        CASE_SEVERITY,
        CASE_STATUS,
        CASE_TIER,
    )

PROJECTION_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class CaseWorkflow:
    """A support case from opening to closing.

    Updates: `opened` answers once the case is in the read model (the open call's reply).
    Queries: `view` returns the live state.
    """

    @workflow.init
    def __init__(self, command: OpenCase) -> None:
        now = workflow.now()
        self._view = CaseView(
            number=command.number,
            case_id=case_workflow_id(command.number),
            status=CaseStatus.new,
            tier=1,
            details=command.details,
            opened_by=command.opened_by,
            opened_at=now,
            updated_at=now,
            seq=0,
        )
        self._projected_seq = 0

    @workflow.run
    async def run(self, command: OpenCase) -> CaseView:
        await self._record(status=CaseStatus.tier1)
        await workflow.wait_condition(
            lambda: self._view.status in (CaseStatus.closed, CaseStatus.closed_out_of_scope)
        )
        return self._view

    @workflow.update
    async def opened(self) -> CaseView:
        await workflow.wait_condition(lambda: self._projected_seq >= 1)
        return self._view

    @workflow.query
    def view(self) -> CaseView:
        return self._view

    async def _record(self, *, status: CaseStatus) -> None:
        self._view = self._view.model_copy(
            update={"status": status, "updated_at": workflow.now(), "seq": self._view.seq + 1}
        )
        workflow.upsert_search_attributes(
            [
                CASE_STATUS.value_set(self._view.status.value),
                CASE_TIER.value_set(self._view.tier),
                CASE_SEVERITY.value_set(self._view.details.severity),
                CASE_ORGANISATION.value_set(self._view.details.organisation),
            ]
        )
        await workflow.execute_activity_method(
            CaseProjection.project_case,
            CaseProjected(view=self._view),
            start_to_close_timeout=PROJECTION_TIMEOUT,
        )
        self._projected_seq = self._view.seq
