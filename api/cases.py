"""Case operations behind the routes: number allocation, workflow start, reads."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import NotFound
from models.case import CaseDetails, CaseView, OpenCase, case_workflow_id
from models.read_model import CaseNumber, CaseRecord
from workflows.case import CaseWorkflow


def allocate_number(session: Session, idempotency_key: str | None) -> int:
    """A new case number, or the one already handed out for this idempotency key."""
    if idempotency_key is not None:
        existing = session.exec(
            select(CaseNumber).where(CaseNumber.idempotency_key == idempotency_key)
        ).first()
        if existing is not None and existing.number is not None:
            return existing.number
    row = CaseNumber(idempotency_key=idempotency_key)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the insert: use its number.
        session.rollback()
        return allocate_number(session, idempotency_key)
    session.refresh(row)
    assert row.number is not None
    return row.number


async def start_case(
    client: Client, task_queue: str, number: int, details: CaseDetails, opened_by: str
) -> CaseView:
    """Start the case workflow and return its view once it is recorded.

    Update-with-start: a retried start joins the running case instead of failing, and
    the reply waits for a worker instead of racing it.
    """
    workflow_id = case_workflow_id(number)
    start = WithStartWorkflowOperation(
        CaseWorkflow.run,
        OpenCase(number=number, details=details, opened_by=opened_by),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        return await client.execute_update_with_start_workflow(
            CaseWorkflow.opened, start_workflow_operation=start
        )
    except WorkflowAlreadyStartedError:
        # The case was opened and has since closed: its final state is the answer.
        return await client.get_workflow_handle_for(CaseWorkflow.run, workflow_id).result()


async def read_case(session: Session, client: Client, number: int) -> CaseView:
    """The case from the read model, or live from its workflow while projection catches up."""
    row = session.get(CaseRecord, number)
    if row is not None:
        return CaseView.model_validate(row.view)
    if session.get(CaseNumber, number) is None:
        raise NotFound(f"case {number} does not exist")
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(number))
    try:
        return await handle.query(CaseWorkflow.view)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"case {number} does not exist") from err
        raise
