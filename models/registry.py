"""Every case command, declared once: its payload, its workflow update, who may send it,
its API route, its CLI verb and the timeline events it records.

The case workflow registers its update handlers from this table, the API mounts
`POST /cases/{number}/<route>` for each entry with a route, the CLI builds
`tierline cases <verb>` from it, the audit code decodes recorded updates by it, and the
decision core (`models/transitions.py`) checks the sender's role against it. A new command
is an entry here, a `case` in `transitions.handle`, and its test.

No Temporal, FastAPI or database import: the workflow sandbox and the CLI import this.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.case import FINAL, WORKING, CaseStatus, Role
from models.clocks import ClockEventKind
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
from models.release import LinkRelease, UnlinkRelease


class EventKind(StrEnum):
    """What a case's timeline records. The values are stored in histories and the read
    model: never rename one."""

    opened = "opened"
    assigned = "assigned"
    responded = "responded"
    note_added = "note_added"
    information_requested = "information_requested"
    customer_replied = "customer_replied"
    tier_escalated = "tier_escalated"
    severity_changed = "severity_changed"
    management_escalated = "management_escalated"
    resolved = "resolved"
    confirmed = "confirmed"
    closed = "closed"
    reopened = "reopened"
    closed_out_of_scope = "closed_out_of_scope"
    release_linked = "release_linked"
    release_unlinked = "release_unlinked"
    release_shipped = "release_shipped"
    release_cancelled = "release_cancelled"
    hotfix_available = "hotfix_available"
    clock_started = "clock_started"
    clock_paused = "clock_paused"
    clock_resumed = "clock_resumed"
    clock_warned = "clock_warned"
    clock_breached = "clock_breached"
    clock_met = "clock_met"
    clock_stopped = "clock_stopped"
    clock_recomputed = "clock_recomputed"

    @classmethod
    def of_clock(cls, kind: ClockEventKind) -> EventKind:
        return cls(f"clock_{kind.value}")


@dataclass(frozen=True)
class CliArgument:
    """How a payload field appears on `tierline cases <verb>`: a positional argument
    (with its metavar) or an option (with its flag name)."""

    field: str
    positional: bool = False
    metavar: str | None = None
    flag: str | None = None  # the option's name when it is not the field's


@dataclass(frozen=True)
class CaseCommandSpec:
    """One case command. `update` is the workflow update's name as recorded in every
    history: never rename it. `roles` may send it (an admin may send anything); agents
    only on cases in the tiers they work. `route` is the path segment under
    `POST /cases/{number}/`, `cli` the verb under `tierline cases` (None: not offered
    there, e.g. release links, which go through the release's own routes). `events` are
    the timeline events it records besides clock events (a refused command records none)."""

    command: type[CaseCommand]
    update: str
    roles: tuple[Role, ...]
    summary: str
    events: tuple[EventKind, ...]
    route: str | None = None
    cli: str | None = None
    cli_arguments: tuple[CliArgument, ...] = ()
    # The statuses in which the command can apply: screens offer it only there. The
    # workflow decides (`transitions.handle`), with reasons a status alone cannot give.
    statuses: frozenset[CaseStatus] = frozenset(CaseStatus)

    @property
    def route_name(self) -> str:
        return f"case_{(self.route or self.update).replace('-', '_')}"


def _positional(field: str, metavar: str | None = None) -> CliArgument:
    return CliArgument(field, positional=True, metavar=metavar)


AGENT = (Role.agent,)
OPEN = frozenset(CaseStatus) - FINAL
UNRESOLVED = OPEN - {CaseStatus.resolved}
IN_WORK = WORKING | {CaseStatus.waiting_on_customer}
RESOLVED = frozenset({CaseStatus.resolved})
COMMANDS: tuple[CaseCommandSpec, ...] = (
    CaseCommandSpec(
        AssignCase,
        "assign",
        AGENT,
        "Assign the case to an agent.",
        (EventKind.assigned,),
        route="assign",
        cli="assign",
        cli_arguments=(_positional("assignee"),),
        statuses=OPEN,
    ),
    CaseCommandSpec(
        RespondPublicly,
        "respond",
        AGENT,
        "Respond to the customer.",
        (EventKind.responded,),
        route="respond",
        cli="respond",
        cli_arguments=(_positional("message"),),
        statuses=UNRESOLVED,
    ),
    CaseCommandSpec(
        AddInternalNote,
        "add_note",
        (Role.agent, Role.release_manager),
        "Add an internal note the customer does not see.",
        (EventKind.note_added,),
        route="notes",
        cli="note",
        cli_arguments=(_positional("note", "NOTE"),),
        statuses=OPEN,
    ),
    CaseCommandSpec(
        RequestInformation,
        "request_information",
        AGENT,
        "Ask the customer for information; the resolution clock pauses.",
        (EventKind.information_requested,),
        route="request-information",
        cli="request-info",
        cli_arguments=(_positional("message"),),
        statuses=WORKING,
    ),
    CaseCommandSpec(
        CustomerReply,
        "customer_reply",
        (Role.customer,),
        "Reply as the customer; a paused case resumes.",
        (EventKind.customer_replied,),
        route="reply",
        cli="reply",
        cli_arguments=(_positional("message"),),
        statuses=UNRESOLVED,
    ),
    CaseCommandSpec(
        EscalateTier,
        "escalate_tier",
        AGENT,
        "Escalate to tier 2 or tier 3 with a reason.",
        (EventKind.tier_escalated,),
        route="escalate",
        cli="escalate",
        cli_arguments=(CliArgument("tier"), CliArgument("reason")),
        statuses=IN_WORK,
    ),
    CaseCommandSpec(
        ChangeSeverity,
        "change_severity",
        (Role.agent, Role.customer),
        "Change the severity; every running clock is recomputed.",
        (EventKind.severity_changed,),
        route="severity",
        cli="severity",
        cli_arguments=(_positional("severity"), CliArgument("reason")),
        statuses=OPEN,
    ),
    CaseCommandSpec(
        RequestManagementEscalation,
        "request_management_escalation",
        (Role.agent, Role.customer),
        "Escalate one level up the plan's management chain.",
        (EventKind.management_escalated,),
        route="management-escalation",
        cli="management-escalation",
        cli_arguments=(CliArgument("reason"),),
        statuses=OPEN,
    ),
    CaseCommandSpec(
        ResolveCase,
        "resolve",
        (Role.agent, Role.release_manager),
        "Resolve with a summary (and a root-cause analysis where the plan requires one).",
        (EventKind.resolved,),
        route="resolve",
        cli="resolve",
        cli_arguments=(CliArgument("summary"), CliArgument("root_cause_analysis", flag="rca")),
        statuses=IN_WORK,
    ),
    CaseCommandSpec(
        ConfirmResolution,
        "confirm",
        (Role.customer,),
        "Confirm the resolution as the customer; the case closes.",
        (EventKind.confirmed,),
        route="confirm",
        cli="confirm",
        cli_arguments=(CliArgument("comment"),),
        statuses=RESOLVED,
    ),
    CaseCommandSpec(
        CloseCase,
        "close",
        AGENT,
        "Close a resolved case.",
        (EventKind.closed,),
        route="close",
        cli="close",
        cli_arguments=(CliArgument("reason"),),
        statuses=RESOLVED,
    ),
    CaseCommandSpec(
        ReopenCase,
        "reopen",
        (Role.agent, Role.customer),
        "Reopen a resolved case, or a closed one within the plan's reopen window.",
        (EventKind.reopened,),
        route="reopen",
        cli="reopen",
        cli_arguments=(CliArgument("reason"),),
        statuses=frozenset({CaseStatus.resolved, CaseStatus.closed}),
    ),
    CaseCommandSpec(
        CloseOutOfScope,
        "close_out_of_scope",
        AGENT,
        "Close as out of scope, citing one of the plan's exclusions.",
        (EventKind.closed_out_of_scope,),
        route="close-out-of-scope",
        cli="out-of-scope",
        cli_arguments=(CliArgument("exclusion"), CliArgument("reason")),
        statuses=IN_WORK,
    ),
    CaseCommandSpec(
        LinkRelease,
        "link_release",
        (Role.release_manager, Role.agent),
        "Join a release (sent by the release routes: the case first, then the release).",
        (EventKind.release_linked,),
        statuses=IN_WORK,
    ),
    CaseCommandSpec(
        UnlinkRelease,
        "unlink_release",
        (Role.release_manager, Role.agent),
        "Leave the release the case is linked to.",
        (EventKind.release_unlinked,),
        statuses=OPEN,
    ),
)

BY_COMMAND: dict[type[CaseCommand], CaseCommandSpec] = {spec.command: spec for spec in COMMANDS}
BY_UPDATE: dict[str, CaseCommandSpec] = {spec.update: spec for spec in COMMANDS}
BY_ROUTE: dict[str, CaseCommandSpec] = {spec.route: spec for spec in COMMANDS if spec.route}


def spec_of(command: CaseCommand) -> CaseCommandSpec:
    """The entry of a command's type."""
    return BY_COMMAND[type(command)]


def may_send(role: Role, spec: CaseCommandSpec) -> bool:
    """Whether a role may send the command at all (the case's tier and organisation are
    checked by whoever knows the case)."""
    return role is Role.admin or role in spec.roles
