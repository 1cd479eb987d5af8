"""What a plan promises a customer, worked out by the policy code itself: the due instants
of a case filed now (the clocks the case workflow would start, started here the same way),
targets in words, and the month's incidents left on the quota workflow's own count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api import cases
from models import clocks
from models.clocks import Clock, ClockName
from models.quota import quota_workflow_id
from policies.business_time import compile_calendar
from policies.plan_snapshot import PlanSnapshot, SeverityLevel
from policies.snapshot import Target
from web.clocks import spoken, target_words
from web.render import wall
from workflows.quota import QuotaWorkflow

# The clocks whose promise a customer weighs when choosing a severity.
PROMISED = ((ClockName.first_response, "First response"), (ClockName.resolution, "Resolution"))
QUOTA_READ = timedelta(seconds=5)


@dataclass(frozen=True)
class Promise:
    """What the plan promises for one clock if the case is filed now."""

    clock: str
    target: str
    due: datetime | None  # UTC; None when the plan sets no deadline
    due_local: str


@dataclass(frozen=True)
class SeverityChoice:
    level: SeverityLevel
    promises: list[Promise]


@dataclass(frozen=True)
class Quota:
    limit: int
    used: int | None  # None: the count could not be read just now
    month: str
    resets: str

    @property
    def remaining(self) -> int | None:
        return None if self.used is None else max(self.limit - self.used, 0)


def wording(target: Target) -> str:
    if target.kind == "best_effort":
        return target.text or "best effort"
    if target.kind != "set" or target.seconds is None:
        return target.text or "no commitment"
    return target_words(target.text or "") if target.text else spoken(target.seconds)


def promises(plan: PlanSnapshot, now: datetime) -> list[SeverityChoice]:
    """For each severity, when its first response and resolution fall due if the case
    opens at `now`."""
    calendar = compile_calendar(plan.calendar)
    choices = []
    for level in plan.severities:
        targets = plan.targets_for(level.id)
        made = []
        for name, text in PROMISED:
            target = getattr(targets, name.value)
            due = None
            if target.kind == "set" and target.seconds is not None:
                due = clocks.start(Clock(name=name, target=target), now, plan.calendar)[0].due_at
            local = wall(calendar.local(due)) if due is not None else "—"
            made.append(Promise(text, wording(target), due, local))
        choices.append(SeverityChoice(level, made))
    return choices


async def quota(
    client: Client, organisation: str, plan: PlanSnapshot, now: datetime
) -> Quota | None:
    """The month's incidents used, as the quota workflow counts them (the count that
    refuses the next case; the read model would also count a case whose slot was taken
    elsewhere differently), or None when the plan has no quota."""
    period = cases.quota_period(organisation, plan, now)
    if period is None:
        return None
    resets = wall(compile_calendar(plan.calendar).local(period.ends_at))
    handle = client.get_workflow_handle(quota_workflow_id(period.organisation, period.month))
    used: int | None
    try:
        used = len(await handle.query(QuotaWorkflow.used, rpc_timeout=QUOTA_READ))
    except RPCError as err:
        used = 0 if err.status == RPCStatusCode.NOT_FOUND else None  # no case yet this month
    except WorkflowQueryFailedError:
        used = None
    return Quota(period.limit, used, period.month, resets)
