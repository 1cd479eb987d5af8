"""Who hears about which case event: a pure function from events to notifications."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.case import CaseEvent, CaseState

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
    subject: str
    body: str


def _message(state: CaseState, event: CaseEvent) -> tuple[str, str]:
    title = state.details.title
    subject = f"[case {state.number}] {event.kind.replace('_', ' ')}: {title}"
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
    subject, body = _message(state, event)
    unique = dict.fromkeys(recipients)
    return [
        Notification(
            key=f"case-{state.number}/{event.seq}/{channel}:{to}",
            channel=channel,
            to=to,
            case_number=state.number,
            event_seq=event.seq,
            event_kind=event.kind,
            subject=subject,
            body=body,
        )
        for channel, to in unique
    ]
