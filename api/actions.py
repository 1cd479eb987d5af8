"""The case actions of the API: the registry's commands as request bodies and workflow
updates, and their refusals as 409s."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, create_model
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict, InvalidField
from api.limits import KeyedLimiter, update_with_retry
from db.read_model import Organisation
from models.case import Actor, case_workflow_id
from models.commands import CaseCommand
from models.registry import COMMANDS, CaseCommandSpec
from observability import logs

# The case commands the API offers as `POST /cases/{number}/<route>`, from the registry.
ACTIONS: tuple[CaseCommandSpec, ...] = tuple(spec for spec in COMMANDS if spec.route)


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


_bodies = {spec.command: _body_model(spec.command) for spec in ACTIONS}


def body_of(spec: CaseCommandSpec) -> type[BaseModel]:
    """The request body of an action: its command's fields without the actor."""
    return _bodies[spec.command]


def has_references(body: BaseModel) -> bool:
    """Whether the action points to something `check_references` must look up."""
    return getattr(body, "article", None) is not None


def check_references(engine: Engine, body: BaseModel, organisation: str) -> None:
    """422 unless what the action points to exists for the case's customer: an article a
    response links must be published and visible to the case's organisation (its plan)."""
    article = getattr(body, "article", None)
    if article is None:
        return
    # Imported here: the knowledge base builds on the API's modules.
    from api.knowledge import Reader, sees
    from db.knowledge import KbArticle

    with Session(engine) as session:
        row = session.get(KbArticle, article)
        organisation_row = session.get(Organisation, organisation)
        plan = f"{organisation_row.catalog}:{organisation_row.plan}" if organisation_row else None
        customer = Reader(signed_in=True, plan=plan)
        if row is None or not sees(customer, row.status, row.visibility, row.plans):
            raise InvalidField(
                "body.article",
                f"article {article} is not published for {organisation}'s customers",
            )


def update_id(action: CaseCommandSpec, actor: Actor, idempotency_key: str | None) -> str | None:
    """The workflow update id of a keyed action: the client's key belongs to its caller,
    so the same key from two callers is two actions, and neither sees the other's result."""
    if not idempotency_key:
        return None
    return f"{action.route}:{actor.id}:{idempotency_key}"


async def perform(
    client: Client,
    limiter: KeyedLimiter,
    number: int,
    action: CaseCommandSpec,
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
    # Untyped: the update goes by its registry name (and mypy, checking the whole API at
    # once, cannot always infer the typed handle's parameters).
    handle = client.get_workflow_handle(workflow_id)
    # Unkeyed, the update gets an id of ours rather than the SDK's, so the logs name it.
    uid = update_id(action, actor, idempotency_key) or f"{action.route}:{uuid.uuid4()}"

    async def call() -> bytes:
        result: RawValue = await handle.execute_update(
            action.update, command, id=uid, result_type=RawValue
        )
        return result.payload.data

    try:
        with logs.bind(case_number=number, workflow_id=workflow_id, update_id=uid):
            return await update_with_retry(limiter, workflow_id, call)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise Conflict(reason, action=action.route) from err
    except RPCError as err:
        # The case was visible a moment ago, so a missing workflow means it has completed.
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Conflict(f"case {number} is closed for good", action=action.route) from err
        raise
