"""The case workflow as a careless change would leave it, for the replay gate's own test.

A module of its own because the sandbox re-imports a workflow's module, and a test
module's imports (pytest among them) are not allowed there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import CaseView
    from workflows.case import CaseStart, CaseWorkflow


@workflow.defn(name="CaseWorkflow")
class CaseWorkflowWithAnExtraTimer(CaseWorkflow):
    """Registered under the real name, with one timer more before the case opens."""

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(start)


@workflow.defn(name="CaseWorkflow")
class CaseWorkflowReadingTheClock(CaseWorkflow):
    """Registered under the real name, reading the machine's clock as it starts."""

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        workflow.logger.debug("started at %s", datetime.now())
        return await super().run(start)
