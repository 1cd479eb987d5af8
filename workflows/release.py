"""The release workflow: a hotfix, patch, service pack or major release and its cases."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.releases import ReleaseProjection
    from models.case import Actor, case_workflow_id
    from models.release import (
        OPEN_RELEASE,
        CancelRelease,
        LinkCaseToRelease,
        LinkedCase,
        PlanRelease,
        PublishHotfix,
        ReleaseAction,
        ReleaseEvent,
        ReleaseNews,
        ReleaseStatus,
        ReleaseView,
        UnlinkCase,
    )

# Signals to linked cases go out in batches so a release with hundreds of cases keeps
# each workflow task small.
FAN_OUT_BATCH = 50
ANSWER_RETRIES_FOR = timedelta(days=7)
PROJECTION_TIMEOUT = timedelta(seconds=30)
# Releases started before this patch are not projected into the read model (`GET
# /releases` does not list them); they replay exactly as they were recorded.
RELEASE_PROJECTION = "release-projection"


@workflow.defn
class ReleaseWorkflow:
    """A release from planned to shipped or cancelled.

    Updates (validated; refusals write nothing): `link`, `unlink`, `start`,
    `publish_hotfix`, `ship`, `cancel`. Queries: `view`.
    Every recorded change is projected into the read model's `releases` table (releases
    started after the `release-projection` patch).
    Shipping signals `release_news` to every linked case once (also after a worker
    restart mid-way: sent signals are in the history and are not sent again).
    """

    @workflow.init
    def __init__(self, command: PlanRelease) -> None:
        self._version = command.version
        self._kind = command.kind
        self._planned_date = command.planned_date
        self._notes = command.notes
        self._status = ReleaseStatus.planned
        self._hotfix_build: str | None = None
        self._cases: dict[int, LinkedCase] = {}
        self._events: list[ReleaseEvent] = []
        self._outbox: list[tuple[list[int], ReleaseNews]] = []
        self._shipped_at: datetime | None = None
        self._cancelled_reason: str | None = None
        self._projected_seq = 0
        self._record(command.planned_by, "planned", release_kind=command.kind.value)

    @workflow.run
    async def run(self, command: PlanRelease) -> ReleaseView:
        projecting = workflow.patched(RELEASE_PROJECTION)
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self._outbox)
                    or self._status not in OPEN_RELEASE
                    or (projecting and self._projected_seq < len(self._events))
                )
            )
            if projecting:
                await self._project()
            while self._outbox:
                numbers, news = self._outbox.pop(0)
                await self._tell(numbers, news)
            if self._status not in OPEN_RELEASE and not self._outbox:
                break
        if projecting:
            await self._project()
        # Stay reachable a while, so a retried ship or cancel gets its answer.
        await workflow.sleep(ANSWER_RETRIES_FOR)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    async def _project(self) -> None:
        """Bring the read model's row up to the latest recorded event."""
        while self._projected_seq < len(self._events):
            seq = len(self._events)
            await workflow.execute_activity_method(
                ReleaseProjection.project_release,
                self.view(),
                start_to_close_timeout=PROJECTION_TIMEOUT,
            )
            self._projected_seq = seq

    async def _tell(self, numbers: list[int], news: ReleaseNews) -> None:
        for start in range(0, len(numbers), FAN_OUT_BATCH):
            batch = numbers[start : start + FAN_OUT_BATCH]
            await asyncio.gather(
                *(
                    workflow.get_external_workflow_handle(case_workflow_id(number)).signal(
                        "release_news", news
                    )
                    for number in batch
                ),
                return_exceptions=True,  # a case deleted meanwhile must not stop the rest
            )

    def _record(self, actor: Actor, kind: str, reason: str | None = None, **data: object) -> None:
        self._events.append(
            ReleaseEvent(
                seq=len(self._events) + 1,
                at=workflow.now(),
                actor=actor,
                kind=kind,
                reason=reason,
                data=data,
            )
        )

    def _require_open(self) -> None:
        if self._status not in OPEN_RELEASE:
            raise ApplicationError(f"release {self._version} is {self._status.value}")

    def _news(
        self, event: str, actor: Actor, build: str | None = None, reason: str | None = None
    ) -> ReleaseNews:
        return ReleaseNews(
            version=self._version,
            kind=self._kind,
            event=event,
            build=build,
            reason=reason,
            actor=actor,
        )

    @workflow.query
    def view(self) -> ReleaseView:
        return ReleaseView(
            version=self._version,
            kind=self._kind,
            status=self._status,
            planned_date=self._planned_date,
            notes=self._notes,
            hotfix_build=self._hotfix_build,
            cases=sorted(self._cases.values(), key=lambda case: case.number),
            events=self._events,
            shipped_at=self._shipped_at,
            cancelled_reason=self._cancelled_reason,
        )

    @workflow.update
    def link(self, command: LinkCaseToRelease) -> ReleaseView:
        if command.number not in self._cases:
            self._cases[command.number] = LinkedCase(
                number=command.number,
                organisation=command.organisation,
                priority_updates=command.priority_updates,
                linked_at=workflow.now(),
            )
            self._record(command.actor, "case_linked", case=command.number)
            if self._hotfix_build and command.priority_updates:
                news = self._news("hotfix_available", command.actor, build=self._hotfix_build)
                self._outbox.append(([command.number], news))
        return self.view()

    @link.validator
    def _link(self, command: LinkCaseToRelease) -> None:
        if command.number not in self._cases:
            self._require_open()

    @workflow.update
    def unlink(self, command: UnlinkCase) -> ReleaseView:
        if self._cases.pop(command.number, None) is not None:
            self._record(
                command.actor, "case_unlinked", command.reason or None, case=command.number
            )
        return self.view()

    @unlink.validator
    def _unlink(self, command: UnlinkCase) -> None:
        if command.number in self._cases:
            self._require_open()

    @workflow.update
    def start(self, command: ReleaseAction) -> ReleaseView:
        if self._status is ReleaseStatus.planned:
            self._status = ReleaseStatus.in_progress
            self._record(command.actor, "started")
        return self.view()

    @start.validator
    def _start(self, command: ReleaseAction) -> None:
        self._require_open()

    @workflow.update
    def publish_hotfix(self, command: PublishHotfix) -> ReleaseView:
        if self._hotfix_build == command.build:
            return self.view()
        self._hotfix_build = command.build
        self._record(command.actor, "hotfix_published", build=command.build)
        early = [case.number for case in self._cases.values() if case.priority_updates]
        if early:
            self._outbox.append(
                (early, self._news("hotfix_available", command.actor, build=command.build))
            )
        return self.view()

    @publish_hotfix.validator
    def _publish_hotfix(self, command: PublishHotfix) -> None:
        self._require_open()

    @workflow.update
    def ship(self, command: ReleaseAction) -> ReleaseView:
        if self._status is ReleaseStatus.shipped:
            return self.view()
        self._status = ReleaseStatus.shipped
        self._shipped_at = workflow.now()
        self._record(command.actor, "shipped", cases=len(self._cases))
        news = self._news("shipped", command.actor, build=self._hotfix_build)
        self._outbox.append((sorted(self._cases), news))
        return self.view()

    @ship.validator
    def _ship(self, command: ReleaseAction) -> None:
        if self._status is not ReleaseStatus.shipped:
            self._require_open()

    @workflow.update
    def cancel(self, command: CancelRelease) -> ReleaseView:
        if self._status is ReleaseStatus.cancelled:
            return self.view()
        self._status = ReleaseStatus.cancelled
        self._cancelled_reason = command.reason
        self._record(command.actor, "cancelled", command.reason)
        news = self._news("cancelled", command.actor, reason=command.reason)
        # The cases go back to the tier-3 queue: the release no longer holds them.
        self._outbox.append((sorted(self._cases), news))
        self._cases = {}
        return self.view()

    @cancel.validator
    def _cancel(self, command: CancelRelease) -> None:
        if self._status is not ReleaseStatus.cancelled:
            self._require_open()
