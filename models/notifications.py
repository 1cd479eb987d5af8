"""Who hears about which case event, and what they read: a pure function from events to
notifications.

The customer's contacts hear of a new case by an acknowledgement stating its number and
the plan's first-response promise in the plan calendar's local time. Every other message
to them says in words what happened, gives what was written to them, where the case stands
and what they may do (until when a reply reopens a closed case), and names the support
team as "Support", never a staff member's id; the team's inbox, the dedicated engineer and
the escalation contacts read the bare record (event, actor, status, reason).

A case opened by a mail names that mail (`CaseDetails.source_message_id`) in each of its
e-mails' `references`, and the acknowledgement answers it (`in_reply_to`); the notifier
adds the case tag to the subject and the case's own thread root to the threading headers
(`activities.notify`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.case import CaseEvent, CaseState, Role
from models.clocks import ClockName
from models.transitions import reopen_deadline
from policies.business_time import compile_calendar
from policies.snapshot import CalendarSnapshot

CUSTOMER_EVENTS = frozenset(
    {
        "opened",
        "responded",
        "information_requested",
        "tier_escalated",
        "severity_changed",
        "management_escalated",
        "resolved",
        "confirmed",
        "closed",
        "reopened",
        "closed_out_of_scope",
        "release_linked",
        "release_shipped",
        "release_cancelled",
        "hotfix_available",
    }
)
TEAM_EVENTS = frozenset(
    {"opened", "customer_replied", "reopened", "clock_warned", "clock_breached"}
)


class Notification(BaseModel):
    """One message to one recipient; `key` makes its delivery idempotent."""

    model_config = ConfigDict(frozen=True)

    key: str
    channel: Literal["email", "webhook"]
    to: str
    case_number: int | None = None
    notice_id: int | None = None
    organisation: str | None = None
    event_seq: int
    event_kind: str
    subject: str = Field(description="Without the case tag, which the notifier adds to mail.")
    body: str
    # Mail only (a webhook's body leaves them out): the received mails this one follows in
    # its thread, Message-IDs without angle brackets.
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # Mail only: "customer" for the case's own contacts (their mail links to the case on
    # the portal), "team" for staff; recorded histories have none and read as "team".
    audience: Literal["customer", "team"] = "team"


# Weekday and month names are spelled here, not by strftime, which follows the locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def local_time_text(instant: datetime, calendar: CalendarSnapshot, seconds: bool = False) -> str:
    """`instant` as the customer reads it, in the calendar's zone: "Monday 7 December 2026,
    16:00 (Europe/Berlin)". To the minute, cut (never later than `instant`: a case opened
    at 16:00:00.3 is due at 16:00:01 and promised by 16:00), or to the second."""
    local = compile_calendar(calendar).local(instant)
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    zone = f"UTC{calendar.zone}" if calendar.zone[:1] in ("+", "-") else calendar.zone
    return (
        f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}, "
        f"{clock} ({zone})"
    )


def first_response_promise(state: CaseState) -> str:
    """What the case's plan promises for its first response, in one sentence."""
    clock = state.clocks[ClockName.first_response]
    target = clock.target
    plan = state.plan.plan_name
    if target.kind == "set":
        duration = target.text or f"{target.seconds} {target.basis.value} seconds"
        within = f"Your {plan} plan promises a first response within {duration}"
        if clock.due_at is None:
            return f"{within}."
        # As precise as the target: seconds for one that counts them (PT45S).
        by = local_time_text(
            clock.due_at, state.plan.calendar, seconds=(target.seconds or 0) % 60 != 0
        )
        return f"We will respond by {by}. {within}."
    if target.kind == "best_effort":
        return f"Your {plan} plan promises a first response on a best-effort basis, at no set time."
    return f"There is no first-response target on this plan ({plan})."


def _acknowledgement(state: CaseState) -> tuple[str, str]:
    details = state.details
    severity = state.plan.severity(state.severity).name
    lines = [
        f"Dear {details.contact.name},",
        "",
        f"We have received your request and opened case {state.number} for it.",
        "",
        f"  Title:     {details.title}",
        f"  Company:   {details.company_name}",
        f"  Severity:  {severity}",
        f"  Plan:      {state.plan.plan_name}",
        "",
        first_response_promise(state),
        "",
        REPLY_HINT,
        "",
        "This message was sent automatically.",
    ]
    return f"Received: {details.title}", "\n".join(lines)


# A case's status as its customer reads it (as the portal words it).
STATUS_WORDS = {
    "new": "new",
    "tier1": "in progress",
    "tier2": "in progress",
    "tier3": "in progress",
    "waiting_on_customer": "waiting on you",
    "resolved": "resolved",
    "closed": "closed",
    "closed_out_of_scope": "closed as out of scope",
}
# A letter's subject, by event (the notifier puts the case tag before it).
CUSTOMER_SUBJECTS = {
    "responded": "Answered",
    "information_requested": "More information needed",
    "tier_escalated": "Escalated",
    "severity_changed": "Severity changed",
    "management_escalated": "Escalated to management",
    "resolved": "Resolved",
    "confirmed": "Closed",
    "closed": "Closed",
    "reopened": "Reopened",
    "closed_out_of_scope": "Closed as out of scope",
    "release_linked": "Fix planned",
    "hotfix_available": "Hotfix available",
    "release_shipped": "Fix shipped",
    "release_cancelled": "Release cancelled",
}
REPLY_HINT = "To add to this case, reply to this message and keep the case number in the subject."


def said_by(actor_id: str, role: str) -> str:
    """Who did it, as a customer reads it (mail and portal alike): the support team as
    one, never a staff id."""
    if role == Role.customer.value:
        return actor_id.removeprefix("mail:")
    return "Tierline" if role == Role.system.value else "Support"


def _severity_name(state: CaseState, severity: object) -> str:
    try:
        return state.plan.severity(str(severity)).name
    except (KeyError, ValueError):
        return str(severity)


def _customer_news(state: CaseState, event: CaseEvent) -> tuple[str, list[str]]:
    """What happened, in a sentence, and what the customer may do next."""
    n, data, who = state.number, event.data, said_by(event.actor.id, event.actor.role.value)
    release = data.get("release")
    match event.kind:
        case "responded":
            return f"{who} has answered on case {n}:", []
        case "information_requested":
            return f"{who} needs more from you to go on with case {n}:", [
                "Reply to this message with what is asked. Until you do, the case waits on "
                "you and the clocks of our promises stand still."
            ]
        case "tier_escalated":
            return f"Case {n} has moved to tier {data.get('to_tier')}.", []
        case "severity_changed":
            was = _severity_name(state, data.get("from_severity"))
            now = _severity_name(state, data.get("to_severity"))
            return f"The severity of case {n} changed from {was} to {now}.", [
                "Every promised time has been worked out again for the new severity."
            ]
        case "management_escalated":
            return f"Case {n} has been escalated to {data.get('title')}.", []
        case "resolved":
            return f"{who} has resolved case {n}:", [
                "If the problem is solved, you may confirm the resolution in the support "
                "portal, and the case closes. If it is not, reply to this message and the "
                "case opens again."
            ]
        case "confirmed":
            return f"{who} confirmed the resolution: case {n} is closed.", _reopen_hint(state)
        case "closed":
            return f"Case {n} is closed.", _reopen_hint(state)
        case "reopened":
            return f"{who} reopened case {n}; it is being worked on again.", []
        case "closed_out_of_scope":
            text = str(data.get("text") or data.get("exclusion")).rstrip(".")
            return f"Case {n} is closed as outside your plan's support: {text}.", []
        case "release_linked":
            return f"The fix for case {n} is planned for release {release}.", []
        case "hotfix_available":
            build = data.get("build")
            return f"A hotfix for case {n} is available: build {build} of release {release}.", []
        case "release_shipped":
            return f"Release {release} has shipped with the fix for case {n}.", []
        case "release_cancelled":
            return f"Release {release}, planned to carry the fix for case {n}, was cancelled.", [
                "The case stays open until the fix has another release."
            ]
    what = event.kind.replace("_", " ")
    return f"Case {n}: {what}.", []


def _reopen_hint(state: CaseState) -> list[str]:
    deadline = reopen_deadline(state)
    if deadline is None:
        return []
    return [
        "If the problem comes back, reply to this message by "
        f"{local_time_text(deadline, state.plan.calendar)} and the case opens again."
    ]


def _reply_hint(state: CaseState) -> str:
    """What a reply does (`mail.intake`): it continues an open or resolved case; a case
    closed for good gets a follow-up case."""
    if state.status.value not in ("closed", "closed_out_of_scope"):
        return REPLY_HINT
    after = " after that" if reopen_deadline(state) is not None else ""
    return f"A reply to this message{after} opens a new case that refers to this one."


def _customer_message(state: CaseState, event: CaseEvent) -> tuple[str, str]:
    """What the customer's contacts read: what happened in words, what was written to
    them, where the case stands, and what they may do; no staff ids, no internal names."""
    details = state.details
    headline, next_steps = _customer_news(state, event)
    lines = [f"Dear {details.contact.name},", "", headline]
    # Tierline's own reasons (a missed target) name clocks as the code does: left out.
    if event.reason and event.actor.role is not Role.system:
        lines += ["", *(f"  {line}" if line else "" for line in event.reason.splitlines())]
    status = STATUS_WORDS.get(state.status.value, state.status.value)
    if state.status.value.startswith("tier"):
        status = f"{status} (tier {state.tier})"
    lines += [
        "",
        f"  Case:      {state.number}, {details.title}",
        f"  Status:    {status}",
        f"  Severity:  {_severity_name(state, state.severity)}",
    ]
    for step in next_steps:
        lines += ["", step]
    lines += ["", _reply_hint(state), "", "This message was sent automatically."]
    what = event.kind.replace("_", " ")
    subject = CUSTOMER_SUBJECTS.get(event.kind, f"{what[:1].upper()}{what[1:]}")
    return f"{subject}: {details.title}", "\n".join(lines)


def _message(state: CaseState, event: CaseEvent) -> tuple[str, str]:
    title = state.details.title
    what = event.kind.replace("_", " ")
    subject = f"{what[:1].upper()}{what[1:]}: {title}"
    lines = [
        f"Case {state.number} ({state.details.company_name}): {title}",
        f"Event: {event.kind} at {event.at.isoformat()}"
        f" by {event.actor.id} ({event.actor.role.value})",
        f"Status: {state.status.value}, tier {state.tier}, severity {state.severity}",
    ]
    if event.reason:
        lines.append(f"Reason: {event.reason}")
    lines.extend(f"{key}: {value}" for key, value in sorted(event.data.items()) if key != "policy")
    return subject, "\n".join(lines)


def notifications_for(state: CaseState, event: CaseEvent) -> list[Notification]:
    """The notifications one recorded event sends, given the case's frozen routing."""
    routing = state.routing
    recipients: list[tuple[Literal["email", "webhook"], str]] = []
    if event.public and event.kind in CUSTOMER_EVENTS:
        recipients += [("email", address) for address in routing.customer_emails]
        if routing.customer_webhook:
            recipients.append(("webhook", routing.customer_webhook))
    if event.kind in TEAM_EVENTS and routing.agents_email:
        recipients.append(("email", routing.agents_email))
    if event.kind == "management_escalated":
        contact = routing.escalation_contacts.get(int(event.data["level"]))
        if contact:
            recipients.append(("email", contact))
    if state.plan.features.dedicated_engineer and routing.dedicated_engineer:
        recipients.append(("email", routing.dedicated_engineer))
    message = _message(state, event)
    customers = set(routing.customer_emails)
    if routing.customer_webhook:
        customers.add(routing.customer_webhook)
    acknowledgement = _acknowledgement(state) if event.kind == "opened" else None
    source = state.details.source_message_id
    notifications = []
    for channel, to in dict.fromkeys(recipients):
        subject, body = message
        # The contacts' mail is a letter; their webhook gets the acknowledgement, and
        # otherwise the bare record, which integrations read.
        customer = event.public and to in customers
        letter = customer and channel == "email"
        if customer and acknowledgement is not None:
            subject, body = acknowledgement
        elif letter:
            subject, body = _customer_message(state, event)
        notifications.append(
            Notification(
                key=f"case-{state.number}/{event.seq}/{channel}:{to}",
                channel=channel,
                to=to,
                case_number=state.number,
                event_seq=event.seq,
                event_kind=event.kind,
                subject=subject,
                body=body,
                in_reply_to=source if event.kind == "opened" else None,
                references=(source,) if source else (),
                audience="customer" if letter else "team",
            )
        )
    return notifications
