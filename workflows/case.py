"""The case workflow: one durable workflow per support case."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.notify import Notifier
    from activities.projection import PROJECT_CASE_LOCAL, CaseProjection
    from models import transitions
    from models.case import (
        FINAL,
        CaseEvent,
        CaseProjected,
        CaseState,
        CaseView,
        OpenCase,
    )
    from models.commands import CaseCommand
    from models.notifications import notifications_for
    from models.registry import COMMANDS, CaseCommandSpec, spec_of
    from models.release import ReleaseNews
    from models.transitions import Fact, Refused
    from observability.case_metrics import record_case_events
    from workflows.search_attributes import (
        CASE_NEXT_DUE,
        CASE_ORGANISATION,
        CASE_SEVERITY,
        CASE_STATUS,
        CASE_TIER,
    )

PROJECTION_TIMEOUT = timedelta(seconds=30)
# Cases started before this patch project through a regular activity (two more round
# trips to the server per recorded change) and upsert search attributes on every change.
LOCAL_PROJECTION = "projection-local-activity"
# Cases started before this patch cancel and start their deadline timer again on every
# change, even one that leaves the next deadline where it was (an internal note).
KEPT_DEADLINE_TIMER = "kept-deadline-timer"
DELIVERY_TIMEOUT = timedelta(seconds=30)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=20,
)


class CaseStart(BaseModel):
    """The workflow's input: a new case, or the state carried over by continue-as-new."""

    open: OpenCase | None = None
    carried: CaseState | None = None


@workflow.defn
class CaseWorkflow:
    """A support case from opening to closing, with its SLA clocks as durable timers.

    Updates: `opened`, and one per case command in `models.registry.COMMANDS` under the
    name recorded there (`assign`, `respond`, `add_note`, ...), each with a validator (a
    refused one writes nothing) that works out the outcome its handler then records.
    Signals: `release_news` (a linked release shipped, was cancelled, or has a hotfix).
    Queries: `view` returns the live state with every clock.
    """

    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._refusal: str | None = None
        self._pending: list[Fact] = []
        if start.carried is not None:
            self._state = start.carried
        else:
            assert start.open is not None
            try:
                self._state, self._pending = transitions.open_case(start.open, workflow.now())
            except Refused as refusal:
                self._refusal = refusal.reason
        self._projected_seq = self._state.seq if start.carried else 0
        self._changed = False
        self._deliveries: list[asyncio.Future[None]] = []
        self._search_attributes: tuple[object, ...] | None = None
        # The durable timer for the next deadline, and that deadline: kept while it holds.
        self._timer: tuple[datetime, asyncio.Task[None]] | None = None
        # What the validator of the update now running worked out, for its handler.
        self._validated: tuple[CaseCommand, CaseState, transitions.Outcome] | None = None
        for spec in COMMANDS:
            workflow.set_update_handler(
                spec.update, self._command_handler(spec), validator=self._validate
            )

    def _command_handler(self, spec: CaseCommandSpec) -> Callable[[CaseCommand], Any]:
        """The update handler of one registry command: typed with its payload model, so
        the SDK decodes the update's argument into it."""

        async def handle(command: CaseCommand) -> CaseView:
            return await self._apply(command)

        handle.__annotations__ = {"command": spec.command, "return": CaseView}
        handle.__name__ = spec.update
        return handle

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        if self._refusal is not None:
            raise ApplicationError(self._refusal, type="CaseRefused", non_retryable=True)
        await self._record(self._pending)
        while True:
            while self._state.status not in FINAL:
                await self._wait_for_deadline_or_change()
                state, facts = transitions.tick(self._state, workflow.now())
                if facts:
                    self._state = state
                    await self._record(facts)
                await self._continue_as_new_if_suggested()
            self._cancel_timer()
            if not await self._reopened_within_window():
                break
        await workflow.wait_condition(self._settled)
        self._forget_deliveries()
        return transitions.view(self._state, workflow.now())

    async def _continue_as_new_if_suggested(self) -> None:
        if not workflow.info().is_continue_as_new_suggested():
            return
        # Roll over only once nothing is in flight, or an update started meanwhile would
        # fail with its event unprojected, and a delivery still retrying would stop with
        # this run. A clock falling due first is ticked before trying again.
        deadline = transitions.next_deadline(self._state)
        timeout = None if deadline is None else (deadline - workflow.now()).total_seconds()
        if timeout is not None and timeout <= 0:
            return
        try:
            await workflow.wait_condition(self._settled, timeout=timeout)
        except TimeoutError:
            return
        # No await from the wait to here, so no handler can start in between.
        self._forget_deliveries()
        workflow.continue_as_new(CaseStart(carried=self._state))

    async def _reopened_within_window(self) -> bool:
        """A closed case stays reachable for the plan's reopen window, then completes."""
        deadline = transitions.reopen_deadline(self._state)
        if deadline is None:
            return False
        timeout = (deadline - workflow.now()).total_seconds()
        if timeout <= 0:
            return False
        try:
            await workflow.wait_condition(lambda: self._state.status not in FINAL, timeout=timeout)
        except TimeoutError:
            return False
        return True

    async def _wait_for_deadline_or_change(self) -> None:
        self._changed = False
        deadline = transitions.next_deadline(self._state)
        timeout = None
        if deadline is not None:
            timeout = (deadline - workflow.now()).total_seconds()
            if timeout <= 0:
                return
        if not workflow.patched(KEPT_DEADLINE_TIMER):
            try:
                await workflow.wait_condition(
                    lambda: self._changed or workflow.info().is_continue_as_new_suggested(),
                    timeout=timeout,
                )
            except TimeoutError:
                pass
            return
        timer = self._timer_for(deadline, timeout)
        await workflow.wait_condition(
            lambda: (
                self._changed
                or (timer is not None and timer.done())
                or workflow.info().is_continue_as_new_suggested()
            )
        )

    def _timer_for(
        self, deadline: datetime | None, timeout: float | None
    ) -> asyncio.Task[None] | None:
        """The running timer if it is set for this deadline, else a new one (the old one
        cancelled): a change that leaves the deadline alone writes no timer events."""
        if self._timer is not None:
            due, timer = self._timer
            if due == deadline and not timer.done():
                return timer
            self._cancel_timer()
        if deadline is None or timeout is None:
            return None
        timer = asyncio.create_task(workflow.sleep(timeout))
        self._timer = (deadline, timer)
        return timer

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer[1].cancel()
            self._timer = None

    def _settled(self) -> bool:
        """No handler is running and every notification is delivered (or given up on)."""
        return workflow.all_handlers_finished() and all(d.done() for d in self._deliveries)

    def _forget_deliveries(self) -> None:
        for delivery in self._deliveries:
            if not delivery.cancelled():
                delivery.exception()  # retrieved: a delivery given up on is no workflow error
        self._deliveries = []

    async def _record(self, facts: list[Fact]) -> CaseView:
        """Number the facts, upsert search attributes, project, and send notifications.
        Returns the view it projected."""
        now = workflow.now()
        seq = self._state.seq
        events = [
            CaseEvent(seq=seq + i, at=now, **fact.model_dump())
            for i, fact in enumerate(facts, start=1)
        ]
        self._state = self._state.model_copy(update={"seq": seq + len(events)})
        self._changed = True
        # The workflow's meter records nothing while a history replays: no command either.
        record_case_events(workflow.metric_meter(), self._state, events)
        view = transitions.view(self._state, workflow.now())
        local = workflow.patched(LOCAL_PROJECTION)
        self._upsert_search_attributes(view, only_if_changed=local)
        for event in events:
            for notification in notifications_for(self._state, event):
                self._deliveries.append(
                    workflow.start_activity_method(
                        Notifier.deliver,
                        notification,
                        start_to_close_timeout=DELIVERY_TIMEOUT,
                        retry_policy=DELIVERY_RETRY,
                    )
                )
        projected = CaseProjected(view=view, events=events)
        if local:
            # The result (what was projected, kept in the marker for audit) stays a raw
            # payload: the workflow has it already and need not decode it again.
            await workflow.execute_local_activity(
                PROJECT_CASE_LOCAL,
                projected,
                result_type=RawValue,
                start_to_close_timeout=PROJECTION_TIMEOUT,
            )
        else:
            await workflow.execute_activity_method(
                CaseProjection.project_case,
                projected,
                start_to_close_timeout=PROJECTION_TIMEOUT,
            )
        self._projected_seq = max(self._projected_seq, view.seq)
        return view

    def _upsert_search_attributes(self, view: CaseView, only_if_changed: bool) -> None:
        values = (
            view.status.value,
            view.tier,
            view.severity,
            view.details.organisation,
            view.next_due_at,
        )
        if only_if_changed and values == self._search_attributes:
            return
        self._search_attributes = values
        workflow.upsert_search_attributes(
            [
                CASE_STATUS.value_set(view.status.value),
                CASE_TIER.value_set(view.tier),
                CASE_SEVERITY.value_set(view.severity),
                CASE_ORGANISATION.value_set(view.details.organisation),
                CASE_NEXT_DUE.value_set(view.next_due_at)
                if view.next_due_at
                else CASE_NEXT_DUE.value_unset(),
            ]
        )

    async def _apply(self, command: CaseCommand) -> CaseView:
        validated, self._validated = self._validated, None
        if validated is not None and validated[0] is command and validated[1] is self._state:
            # The validator ran on this very state, in this workflow task (same now).
            state, facts = validated[2]
        else:
            # Replaying (validators do not run then), or the state moved on meanwhile.
            try:
                state, facts = transitions.handle(self._state, command, workflow.now())
            except Refused as refusal:
                raise ApplicationError(refusal.reason, type="Refused", non_retryable=True) from None
        self._state = state
        view = await self._record(facts)
        if view.seq == self._state.seq:
            return view
        # Another handler recorded while this one waited for its projection.
        return transitions.view(self._state, workflow.now())

    def _validate(self, command: CaseCommand) -> None:
        if self._refusal is not None:
            raise ApplicationError(self._refusal, type="Refused")
        try:
            outcome = transitions.handle(self._state, command, workflow.now())
        except Refused as refusal:
            raise ApplicationError(refusal.reason, type="Refused") from None
        self._validated = (command, self._state, outcome)

    @workflow.update
    async def opened(self) -> CaseView:
        await workflow.wait_condition(lambda: self._projected_seq >= 1 or self._refusal is not None)
        if self._refusal is not None:
            raise ApplicationError(self._refusal, type="CaseRefused", non_retryable=True)
        return transitions.view(self._state, workflow.now())

    @workflow.query
    def view(self) -> CaseView:
        return transitions.view(self._state, workflow.now())

    @workflow.query
    def state(self) -> CaseState:
        return self._state

    @workflow.signal
    async def release_news(self, news: ReleaseNews) -> None:
        state, facts = transitions.release_news(self._state, news, workflow.now())
        if facts:
            self._state = state
            await self._record(facts)


async def execute_command(
    handle: WorkflowHandle[Any, Any], command: CaseCommand, *, id: str | None = None
) -> CaseView:
    """Send a case command to its case as the update the registry names, and wait for the
    case's new view (a refusal raises `WorkflowUpdateFailedError` with the reason)."""
    view: CaseView = await handle.execute_update(
        spec_of(command).update, command, id=id, result_type=CaseView
    )
    return view
