"""The notice workflow: one scheduled outage or business-continuity notice, delivered."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.notices import NoticeProjection
    from activities.notify import Notifier
    from models.notice import NoticeDelivered, SendNotice, notice_notifications

# Messages go out in batches so a notice to thousands of organisations keeps each
# workflow task small.
BATCH = 50
DELIVERY_TIMEOUT = timedelta(seconds=30)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=20,
)
PROJECTION_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class NoticeWorkflow:
    """Sends one notice to every contact of its affected organisations, then records how
    it went. No handlers. Each message is an idempotent `deliver_notification` activity
    keyed by notice, organisation and address: a worker restart or a retried start never
    sends one twice (the workflow id `notice-<id>` is the business key)."""

    @workflow.run
    async def run(self, command: SendNotice) -> NoticeDelivered:
        notifications = notice_notifications(command)
        failed = 0
        for start in range(0, len(notifications), BATCH):
            results = await asyncio.gather(
                *(
                    workflow.execute_activity_method(
                        Notifier.deliver,
                        notification,
                        start_to_close_timeout=DELIVERY_TIMEOUT,
                        retry_policy=DELIVERY_RETRY,
                    )
                    for notification in notifications[start : start + BATCH]
                ),
                return_exceptions=True,  # one unreachable contact must not stop the rest
            )
            failed += sum(isinstance(result, BaseException) for result in results)
        outcome = NoticeDelivered(
            notice_id=command.notice_id,
            messages=len(notifications),
            delivered=len(notifications) - failed,
            failed=failed,
        )
        await workflow.execute_activity_method(
            NoticeProjection.record_outcome, outcome, start_to_close_timeout=PROJECTION_TIMEOUT
        )
        return outcome
