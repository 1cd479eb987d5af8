"""Every case action the API offers, mapped to its workflow update and who may use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict
from api.limits import KeyedLimiter, update_with_retry
from models.case import Actor, Role, case_workflow_id
from models.commands import (
    AddInternalNote,
    AssignCase,
    CaseCommand,
    ChangeSeverity,
    CloseCase,
    CloseOutOfScope,
    ConfirmResolution,
    CustomerReply,
    EscalateTier,
    ReopenCase,
    RequestInformation,
    RequestManagementEscalation,
    ResolveCase,
    RespondPublicly,
)
from workflows.case import CaseWorkflow


@dataclass(frozen=True)
class Action:
    path: str
    update: Any
    command: type[CaseCommand]
    roles: tuple[Role, ...]
    summary: str

    @property
    def body(self) -> type[BaseModel]:
        return _bodies[self.path]

    @property
    def update_name(self) -> str:
        """The workflow update's name (its method's: no update here is renamed)."""
        name: str = self.update.__name__
        return name


STAFF = (Role.agent,)
ACTIONS = [
    Action("assign", CaseWorkflow.assign, AssignCase, STAFF, "Assign the case to an agent."),
    Action("respond", CaseWorkflow.respond, RespondPublicly, STAFF, "Respond to the customer."),
    Action(
        "notes",
        CaseWorkflow.add_note,
        AddInternalNote,
        (*STAFF, Role.release_manager),
        "Add an internal note the customer does not see.",
    ),
    Action(
        "request-information",
        CaseWorkflow.request_information,
        RequestInformation,
        STAFF,
        "Ask the customer for information; the resolution clock pauses.",
    ),
    Action(
        "reply",
        CaseWorkflow.customer_reply,
        CustomerReply,
        (Role.customer,),
        "Reply as the customer; a paused case resumes.",
    ),
    Action(
        "escalate",
        CaseWorkflow.escalate_tier,
        EscalateTier,
        STAFF,
        "Escalate to tier 2 or tier 3 with a reason.",
    ),
    Action(
        "severity",
        CaseWorkflow.change_severity,
        ChangeSeverity,
        (*STAFF, Role.customer),
        "Change the severity; every running clock is recomputed.",
    ),
    Action(
        "management-escalation",
        CaseWorkflow.request_management_escalation,
        RequestManagementEscalation,
        (*STAFF, Role.customer),
        "Escalate one level up the plan's management chain.",
    ),
    Action(
        "resolve",
        CaseWorkflow.resolve,
        ResolveCase,
        (*STAFF, Role.release_manager),
        "Resolve with a summary (and a root-cause analysis where the plan requires one).",
    ),
    Action(
        "confirm",
        CaseWorkflow.confirm,
        ConfirmResolution,
        (Role.customer,),
        "Confirm the resolution as the customer; the case closes.",
    ),
    Action("close", CaseWorkflow.close, CloseCase, STAFF, "Close a resolved case."),
    Action(
        "reopen",
        CaseWorkflow.reopen,
        ReopenCase,
        (*STAFF, Role.customer),
        "Reopen a resolved case, or a closed one within the plan's reopen window.",
    ),
    Action(
        "close-out-of-scope",
        CaseWorkflow.close_out_of_scope,
        CloseOutOfScope,
        STAFF,
        "Close as out of scope, citing one of the plan's exclusions.",
    ),
]


def _body_model(command: type[CaseCommand]) -> type[BaseModel]:
    fields = {
        name: (field.annotation, field)
        for name, field in command.model_fields.items()
        if name != "actor"
    }
    name = command.__name__ + "Body"
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        name, __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


_bodies = {action.path: _body_model(action.command) for action in ACTIONS}


def update_id(action: Action, actor: Actor, idempotency_key: str | None) -> str | None:
    """The workflow update id of a keyed action: the client's key belongs to its caller,
    so the same key from two callers is two actions, and neither sees the other's result."""
    if not idempotency_key:
        return None
    return f"{action.path}:{actor.id}:{idempotency_key}"


async def perform(
    client: Client,
    limiter: KeyedLimiter,
    number: int,
    action: Action,
    body: BaseModel,
    actor: Actor,
    idempotency_key: str | None,
) -> bytes:
    """Send the action to the case; a refusal becomes 409 with the workflow's reason.

    Returns the case's new view as the JSON the workflow encoded it in (a `CaseView`):
    passed through to the caller as it is, rather than decoded, validated and encoded
    again on its way out."""
    command = action.command.model_validate({**body.model_dump(), "actor": actor})
    workflow_id = case_workflow_id(number)
    handle = client.get_workflow_handle_for(CaseWorkflow.run, workflow_id)

    async def call() -> bytes:
        result: RawValue = await handle.execute_update(
            action.update_name,
            command,
            id=update_id(action, actor, idempotency_key),
            result_type=RawValue,
        )
        return result.payload.data

    try:
        return await update_with_retry(limiter, workflow_id, call)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise Conflict(reason, action=action.path) from err
    except RPCError as err:
        # The case was visible a moment ago, so a missing workflow means it has completed.
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Conflict(f"case {number} is closed for good", action=action.path) from err
        raise
