"""Notices to customer organisations (scheduled outages, business-continuity updates):
payloads and the pure rule that turns a notice into messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.case import Actor
from models.notifications import Notification


class NoticeKind(StrEnum):
    scheduled_outage = "scheduled_outage"
    business_continuity = "business_continuity"


class NoticeRecipient(BaseModel):
    """An affected organisation and its contacts, frozen when the notice is sent."""

    model_config = ConfigDict(frozen=True)

    organisation: str
    emails: tuple[str, ...] = ()
    webhook: str | None = None


class SendNotice(BaseModel):
    """Command that starts a notice workflow."""

    notice_id: int
    kind: NoticeKind
    title: str
    body: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    recipients: list[NoticeRecipient]
    sent_by: Actor


class NoticeDelivered(BaseModel):
    """What became of a notice's messages; the workflow's result."""

    notice_id: int
    messages: int
    delivered: int
    failed: int


def notice_workflow_id(notice_id: int) -> str:
    return f"notice-{notice_id}"


def _message(command: SendNotice) -> tuple[str, str]:
    label = command.kind.value.replace("_", " ")
    subject = f"[{label}] {command.title}"
    lines = [command.title, ""]
    if command.starts_at is not None:
        window = f"From {command.starts_at.isoformat()}"
        if command.ends_at is not None:
            window += f" to {command.ends_at.isoformat()}"
        lines += [window, ""]
    lines.append(command.body)
    return subject, "\n".join(lines)


def notice_notifications(command: SendNotice) -> list[Notification]:
    """One message per contact of each affected organisation, keyed so none goes twice."""
    subject, body = _message(command)
    notifications: list[Notification] = []
    for recipient in command.recipients:
        channels: list[tuple[Literal["email", "webhook"], str]] = [
            ("email", address) for address in dict.fromkeys(recipient.emails)
        ]
        if recipient.webhook:
            channels.append(("webhook", recipient.webhook))
        for channel, to in channels:
            notifications.append(
                Notification(
                    key=f"notice-{command.notice_id}/{recipient.organisation}/{channel}:{to}",
                    channel=channel,
                    to=to,
                    notice_id=command.notice_id,
                    organisation=recipient.organisation,
                    event_seq=1,
                    event_kind=command.kind.value,
                    subject=subject,
                    body=body,
                )
            )
    return notifications
