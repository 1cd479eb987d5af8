"""The case's decisions as pure functions: a command or a clock tick in, a new state and
the facts to record out. No Temporal import; the workflow only waits, calls and records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from models import clocks
from models.case import (
    FINAL,
    SYSTEM,
    TIER_STATUS,
    WORKING,
    Actor,
    CaseState,
    CaseStatus,
    CaseView,
    OpenCase,
    Role,
    case_workflow_id,
)
from models.clocks import Clock, ClockEvent, ClockEventKind, ClockName
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
from models.registry import BY_COMMAND, EventKind
from models.release import LinkRelease, ReleaseNews, UnlinkRelease
from policies.business_time import due_at
from policies.plan_snapshot import EscalationTrigger, PlanSnapshot
from policies.snapshot import CalendarSnapshot, Target

# A management escalation follows a missed customer promise, not the internal tier-1 target.
ESCALATING_CLOCKS = frozenset(
    {ClockName.first_response, ClockName.periodic_update, ClockName.resolution}
)


WAITING_PAUSES = (ClockName.resolution, ClockName.periodic_update, ClockName.tier1)


class Refused(Exception):
    """The command is not allowed in the case's current state; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Fact(BaseModel):
    """A fact to record, before the workflow numbers it."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    actor: Actor
    reason: str | None = None
    public: bool = True
    data: dict[str, Any] = {}


Outcome = tuple[CaseState, list[Fact]]


def _targets(plan: PlanSnapshot, severity: str) -> dict[ClockName, Target]:
    cells = plan.targets_for(severity)
    return {
        ClockName.first_response: cells.first_response,
        ClockName.periodic_update: cells.periodic_update,
        ClockName.resolution: cells.resolution,
        ClockName.tier1: cells.tier1_target,
    }


def _clock_fact(event: ClockEvent) -> Fact:
    data: dict[str, Any] = {"clock": event.clock.value}
    if event.due_at is not None:
        data["due_at"] = event.due_at.isoformat()
    return Fact(kind=EventKind.of_clock(event.kind), actor=SYSTEM, data=data, public=False)


class _Draft:
    """A state under change plus the facts that explain each change."""

    def __init__(self, state: CaseState, now: datetime) -> None:
        self.state = state
        self.now = now
        self.facts: list[Fact] = []

    @property
    def calendar(self) -> CalendarSnapshot:
        return self.state.plan.calendar

    def set(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def fact(self, kind: EventKind, actor: Actor, reason: str | None = None, **data: Any) -> None:
        public = data.pop("public", True)
        self.facts.append(Fact(kind=kind, actor=actor, reason=reason, public=public, data=data))

    def clock(
        self,
        name: ClockName,
        step: Callable[[Clock, datetime, CalendarSnapshot], tuple[Clock, ClockEvent | None]],
    ) -> None:
        updated, event = step(self.state.clocks[name], self.now, self.calendar)
        self.set(clocks={**self.state.clocks, name: updated})
        if event is not None:
            self.facts.append(_clock_fact(event))

    def retarget(self, name: ClockName, target: Target) -> None:
        updated, event = clocks.retarget(self.state.clocks[name], target, self.now, self.calendar)
        self.set(clocks={**self.state.clocks, name: updated})
        if event is not None:
            self.facts.append(_clock_fact(event))

    def start_clock(self, name: ClockName) -> None:
        self.clock(name, clocks.start)

    def move_to_tier(self, tier: int) -> None:
        if self.state.tier == 1 and tier != 1:
            self.clock(ClockName.tier1, clocks.stop)
        self.set(tier=tier, status=TIER_STATUS[tier])

    def done(self) -> Outcome:
        return self.state.model_copy(update={"updated_at": self.now}), self.facts


def open_case(command: OpenCase, now: datetime) -> Outcome:
    """The state of a case that has just opened, its clocks running."""
    plan = command.plan
    severity = command.details.severity
    try:
        level = plan.severity(severity)
    except (KeyError, ValueError) as err:
        raise Refused(f"plan {plan.plan_id} has no severity {severity!r}") from err
    targets = _targets(plan, severity)
    state = CaseState(
        number=command.number,
        details=command.details,
        plan=plan,
        routing=command.routing,
        opened_by=command.opened_by,
        opened_at=now,
        updated_at=now,
        severity=severity,
        clocks={name: Clock(name=name, target=target) for name, target in targets.items()},
    )
    draft = _Draft(state, now)
    draft.fact(
        EventKind.opened,
        command.opened_by,
        severity=severity,
        policy=plan.source.model_dump(mode="json"),
    )
    draft.set(tier=level.starts_in_tier, status=TIER_STATUS[level.starts_in_tier])
    for name in (ClockName.first_response, ClockName.periodic_update, ClockName.resolution):
        draft.start_clock(name)
    if level.starts_in_tier == 1:
        draft.start_clock(ClockName.tier1)
    return draft.done()


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Refused(reason)


# A role as a 409's reason names it ("an agent may not do this").
ROLE_NAMES = {
    Role.customer: "a customer",
    Role.agent: "an agent",
    Role.release_manager: "a release manager",
    Role.auditor: "an auditor",
    Role.admin: "an admin",
    Role.system: "Tierline itself",
}


def _require_role(actor: Actor, *roles: Role) -> None:
    allowed = (*roles, Role.admin)
    _require(actor.role in allowed, f"{ROLE_NAMES[actor.role]} may not do this")


def _rca_owed(state: CaseState) -> bool:
    terms = state.plan.features.root_cause_analysis
    if terms is None:
        return False
    return (
        "always" in terms.conditions
        or ("critical" in terms.conditions and state.severity in terms.critical_severities)
        or ("recurring" in terms.conditions and state.details.recurring)
    )


def _escalate_management(draft: _Draft, actor: Actor, reason: str) -> bool:
    chain = draft.state.plan.escalation
    level = draft.state.escalation_level
    if level >= len(chain):
        return False
    reached = chain[level]
    draft.set(escalation_level=reached.level)
    draft.fact(
        EventKind.management_escalated,
        actor,
        reason,
        level=reached.level,
        title=reached.title,
        role=reached.role.value,
    )
    return True


def _public_response(draft: _Draft) -> None:
    if draft.state.first_responded_at is None:
        draft.set(first_responded_at=draft.now)
        draft.clock(ClockName.first_response, clocks.stop)
    draft.start_clock(ClockName.periodic_update)


def handle(state: CaseState, command: CaseCommand, now: datetime) -> Outcome:
    """Apply an agent's or customer's command, or refuse it with the reason."""
    status = state.status
    _require(status not in FINAL or isinstance(command, ReopenCase), f"the case is {status.value}")
    draft = _Draft(state, now)
    actor = command.actor
    spec = BY_COMMAND.get(type(command))
    if spec is None:
        raise Refused(f"unknown command {type(command).__name__}")
    _require_role(actor, *spec.roles)
    match command:
        case AssignCase(assignee=assignee):
            _require(assignee != state.assignee, f"the case is already assigned to {assignee}")
            draft.set(assignee=assignee)
            draft.fact(EventKind.assigned, actor, assignee=assignee, public=False)
        case RespondPublicly(message=message, article=article):
            _require(status is not CaseStatus.resolved, "the case is resolved: reopen it first")
            # The article only when there is one: responses without keep their recorded shape.
            draft.fact(
                EventKind.responded, actor, message, **({"article": article} if article else {})
            )
            _public_response(draft)
            if status is CaseStatus.waiting_on_customer:
                draft.clock(ClockName.periodic_update, clocks.pause)
        case AddInternalNote(note=note):
            draft.fact(EventKind.note_added, actor, note, public=False)
        case RequestInformation(message=message):
            _require(
                status in WORKING,
                f"information cannot be requested while the case is {status.value}",
            )
            draft.fact(EventKind.information_requested, actor, message)
            _public_response(draft)
            draft.set(status=CaseStatus.waiting_on_customer, status_before_waiting=status)
            # Waiting on the customer stops every clock that measures the vendor's work.
            for name in WAITING_PAUSES:
                draft.clock(name, clocks.pause)
        case CustomerReply(message=message):
            _require(
                status not in (CaseStatus.resolved,), "the case is resolved: confirm or reopen it"
            )
            draft.fact(EventKind.customer_replied, actor, message)
            if status is CaseStatus.waiting_on_customer:
                draft.set(
                    status=state.status_before_waiting or TIER_STATUS[state.tier],
                    status_before_waiting=None,
                )
                for name in WAITING_PAUSES:
                    draft.clock(name, clocks.resume)
        case EscalateTier(tier=tier, reason=reason):
            _require(
                status in WORKING or status is CaseStatus.waiting_on_customer,
                f"a {status.value} case cannot be escalated",
            )
            _require(tier > state.tier, f"the case is already in tier {state.tier}")
            draft.fact(EventKind.tier_escalated, actor, reason, from_tier=state.tier, to_tier=tier)
            was_waiting = status is CaseStatus.waiting_on_customer
            draft.move_to_tier(tier)
            if was_waiting:
                draft.set(
                    status=CaseStatus.waiting_on_customer, status_before_waiting=TIER_STATUS[tier]
                )
        case ChangeSeverity(severity=severity, reason=reason):
            _require(severity != state.severity, f"the severity is already {severity}")
            try:
                state.plan.severity(severity)
            except (KeyError, ValueError) as err:
                raise Refused(f"plan {state.plan.plan_id} has no severity {severity!r}") from err
            draft.fact(
                EventKind.severity_changed,
                actor,
                reason,
                from_severity=state.severity,
                to_severity=severity,
            )
            draft.set(severity=severity)
            for name, target in _targets(state.plan, severity).items():
                draft.retarget(name, target)
        case RequestManagementEscalation(reason=reason):
            _require(
                bool(state.plan.escalation),
                f"plan {state.plan.plan_id} has no management escalation",
            )
            _require(
                EscalationTrigger.customer_request in state.plan.escalation_triggers
                or actor.role is not Role.customer,
                f"plan {state.plan.plan_id} does not offer escalation on request",
            )
            _require(
                _escalate_management(draft, actor, reason),
                "the case is already at the top of the management chain",
            )
        case ResolveCase(summary=summary, root_cause_analysis=rca):
            _require(
                status in WORKING or status is CaseStatus.waiting_on_customer,
                f"a {status.value} case cannot be resolved",
            )
            rca = rca or state.root_cause_analysis
            _require(
                rca is not None or not _rca_owed(state),
                f"plan {state.plan.plan_id} requires a root-cause analysis for this case",
            )
            _resolve(draft, actor, summary, root_cause_analysis=rca)
            draft.set(root_cause_analysis=rca)
        case ConfirmResolution(comment=comment):
            _require(
                status is CaseStatus.resolved,
                f"only a resolved case can be confirmed, this one is {status.value}",
            )
            draft.fact(EventKind.confirmed, actor, comment)
            draft.set(status=CaseStatus.closed, closed_at=now)
        case CloseCase(reason=reason):
            _require(
                status is CaseStatus.resolved,
                f"only a resolved case can be closed, this one is {status.value}",
            )
            draft.fact(EventKind.closed, actor, reason)
            draft.set(status=CaseStatus.closed, closed_at=now)
        case ReopenCase(reason=reason):
            _require(
                status in (CaseStatus.resolved, CaseStatus.closed),
                f"a {status.value} case cannot be reopened",
            )
            if status is CaseStatus.closed:
                deadline = reopen_deadline(state)
                _require(
                    deadline is not None,
                    f"plan {state.plan.plan_id} allows no reopening once a case is closed",
                )
                assert deadline is not None
                _require(now <= deadline, f"the reopen window ended at {deadline.isoformat()}")
            draft.fact(EventKind.reopened, actor, reason)
            draft.set(status=TIER_STATUS[state.tier], resolved_at=None, closed_at=None)
            for name in (ClockName.resolution, ClockName.periodic_update):
                stopped = draft.state.clocks[name].model_copy(
                    update={"state": clocks.ClockState.paused}
                )
                draft.set(clocks={**draft.state.clocks, name: stopped})
                draft.clock(name, clocks.resume)
        case CloseOutOfScope(exclusion=exclusion_id, reason=reason):
            _require(
                status in WORKING or status is CaseStatus.waiting_on_customer,
                f"a {status.value} case cannot be closed out of scope",
            )
            try:
                exclusion = state.plan.exclusion(exclusion_id)
            except (KeyError, ValueError) as err:
                raise Refused(
                    f"plan {state.plan.plan_id} has no exclusion {exclusion_id!r}"
                ) from err
            for name in ClockName:
                draft.clock(name, clocks.withdraw)
            draft.fact(
                EventKind.closed_out_of_scope,
                actor,
                reason,
                exclusion=exclusion.id,
                text=exclusion.text,
            )
            draft.set(status=CaseStatus.closed_out_of_scope, exclusion=exclusion.id, closed_at=now)
        case LinkRelease(version=version):
            if state.release == version:
                return state, []
            _require(
                status is CaseStatus.tier3
                or (status is CaseStatus.waiting_on_customer and state.tier == 3),
                f"only tier-3 cases can be linked to a release; case {state.number} is "
                f"{status.value}",
            )
            _require(
                state.release is None,
                f"case {state.number} is linked to release {state.release}; unlink it first",
            )
            draft.fact(EventKind.release_linked, actor, release=version)
            draft.set(release=version)
        case UnlinkRelease(version=version, reason=reason):
            if state.release != version:
                return state, []
            draft.fact(EventKind.release_unlinked, actor, reason or None, release=version)
            draft.set(release=None)
        case _:
            raise Refused(f"unknown command {type(command).__name__}")
    return draft.done()


def _resolve(draft: _Draft, actor: Actor, summary: str, **data: Any) -> None:
    state = draft.state
    draft.fact(EventKind.resolved, actor, summary, **data)
    if state.first_responded_at is None:
        draft.set(first_responded_at=draft.now)
        draft.clock(ClockName.first_response, clocks.stop)
    for name in (ClockName.tier1, ClockName.resolution, ClockName.periodic_update):
        draft.clock(name, clocks.stop)
    draft.set(
        status=CaseStatus.resolved,
        resolved_at=draft.now,
        resolution_summary=summary,
        status_before_waiting=None,
    )


def release_news(state: CaseState, news: ReleaseNews, now: datetime) -> Outcome:
    """What a release's news does to a linked case; news for another release changes nothing."""
    if state.release != news.version or state.status in FINAL:
        return state, []
    draft = _Draft(state, now)
    label = f"{news.kind.value.replace('_', ' ')} {news.version}"
    match news.event:
        case "hotfix_available":
            draft.fact(
                EventKind.hotfix_available, news.actor, release=news.version, build=news.build
            )
        case "shipped" if state.status is not CaseStatus.resolved:
            draft.fact(
                EventKind.release_shipped, news.actor, release=news.version, build=news.build
            )
            _resolve(draft, news.actor, f"Fixed in {label}", release=news.version)
        case "cancelled":
            draft.fact(EventKind.release_cancelled, news.actor, news.reason, release=news.version)
            draft.set(release=None)
        case _:
            return state, []
    return draft.done()


def tick(state: CaseState, now: datetime) -> Outcome:
    """Fire every warning and breach that is due; a breach may climb the management chain,
    and the tier-1 target running out moves the case to tier 2."""
    draft = _Draft(state, now)
    for name in ClockName:
        fired, events = clocks.fire_due(draft.state.clocks[name], now)
        if not events:
            continue
        draft.set(clocks={**draft.state.clocks, name: fired})
        for event in events:
            draft.facts.append(_clock_fact(event))
            if event.kind is not ClockEventKind.breached:
                continue
            if name is ClockName.tier1 and draft.state.tier == 1:
                draft.fact(
                    EventKind.tier_escalated,
                    SYSTEM,
                    "the tier-1 target ran out",
                    from_tier=1,
                    to_tier=2,
                )
                waiting = draft.state.status is CaseStatus.waiting_on_customer
                draft.move_to_tier(2)
                if waiting:
                    draft.set(
                        status=CaseStatus.waiting_on_customer,
                        status_before_waiting=CaseStatus.tier2,
                    )
            elif (
                name in ESCALATING_CLOCKS
                and EscalationTrigger.target_missed in state.plan.escalation_triggers
            ):
                _escalate_management(draft, SYSTEM, f"the {name.value} target was missed")
    if not draft.facts:
        return state, []
    return draft.done()


def reopen_deadline(state: CaseState) -> datetime | None:
    """Until when a closed case may be reopened (None: it may not be)."""
    window = state.plan.reopen_window
    if state.status is not CaseStatus.closed or state.closed_at is None:
        return None
    if window.kind != "set" or window.seconds is None:
        return None
    return due_at(state.closed_at, window.seconds, window.basis, state.plan.calendar)


def next_deadline(state: CaseState) -> datetime | None:
    return clocks.next_deadline(list(state.clocks.values()))


def view(state: CaseState, now: datetime) -> CaseView:
    """The case as people read it at `now`, every clock included."""
    calendar = state.plan.calendar
    clock_views = [clocks.view(clock, now, calendar) for clock in state.clocks.values()]
    chain = state.plan.escalation
    return CaseView(
        number=state.number,
        case_id=case_workflow_id(state.number),
        status=state.status,
        tier=state.tier,
        severity=state.severity,
        assignee=state.assignee,
        details=state.details,
        opened_by=state.opened_by,
        opened_at=state.opened_at,
        updated_at=state.updated_at,
        policy=state.plan.source,
        plan_id=state.plan.plan_id,
        escalation_level=state.escalation_level,
        escalation_title=chain[state.escalation_level - 1].title
        if state.escalation_level
        else None,
        clocks=clock_views,
        next_due_at=next_deadline(state),
        breached=any(clock.breached for clock in state.clocks.values()),
        resolved_at=state.resolved_at,
        closed_at=state.closed_at,
        reopen_until=reopen_deadline(state),
        resolution_summary=state.resolution_summary,
        exclusion=state.exclusion,
        release=state.release,
        priority_updates=state.plan.features.priority_updates,
        seq=state.seq,
    )
