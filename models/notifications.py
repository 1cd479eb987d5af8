"""Who hears about which case event, and what they read: a pure function from events to
notifications.

The customer's contacts hear of a new case by an acknowledgement stating its number and
the plan's first-response promise in the plan calendar's local time. Every other message
says what happened. A case opened by a mail names that mail (`CaseDetails.
source_message_id`) in each of its e-mails' `references`, and the acknowledgement
answers it (`in_reply_to`); the notifier adds the case tag to the subject and the case's
own thread root to the threading headers (`activities.notify`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.case import CaseEvent, CaseState
from models.clocks import ClockName
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
        "To add to this case, reply to this message and keep the case number in the subject.",
        "",
        "This message was sent automatically.",
    ]
    return f"Received: {details.title}", "\n".join(lines)


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
        if acknowledgement is not None and event.public and to in customers:
            subject, body = acknowledgement
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
            )
        )
    return notifications
