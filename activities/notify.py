"""Notification delivery: signed HTTP webhooks and e-mail over SMTP, each exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from models.notifications import Notification

if TYPE_CHECKING:
    from sqlalchemy import Engine

SIGNATURE_HEADER = "X-Tierline-Signature"


def sign(secret: str, body: bytes) -> str:
    """The value of the signature header: `sha256=` and the HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Notifier:
    """Delivers notifications; the notifications table keyed by `key` stops a retry
    (or a replayed workflow) from sending the same message twice."""

    def __init__(
        self,
        engine: Engine,
        *,
        smtp_host: str,
        smtp_port: int,
        sender: str,
        webhook_secret: str,
        http_timeout: float = 10.0,
    ) -> None:
        self._engine = engine
        self._smtp = (smtp_host, smtp_port)
        self._sender = sender
        self._secret = webhook_secret
        self._timeout = http_timeout

    @activity.defn(name="deliver_notification")
    def deliver(self, notification: Notification) -> None:
        """Send one notification unless it was sent already; failures raise and retry."""
        from sqlmodel import Session

        from models.read_model import NotificationRecord, write_lock

        with Session(self._engine) as session:
            record = session.get(NotificationRecord, notification.key)
            if record is not None and record.status == "sent":
                return
            if record is None:
                record = NotificationRecord(
                    key=notification.key,
                    case_number=notification.case_number,
                    notice_id=notification.notice_id,
                    organisation=notification.organisation,
                    event_seq=notification.event_seq,
                    event_kind=notification.event_kind,
                    channel=notification.channel,
                    recipient=notification.to,
                    subject=notification.subject,
                )
            record.attempts += 1
            try:
                if notification.channel == "webhook":
                    self._post(notification)
                else:
                    self._mail(notification)
            except Exception as err:
                record.last_error = f"{type(err).__name__}: {err}"[:1000]
                session.add(record)
                with write_lock(self._engine):
                    session.commit()
                if not isinstance(err, (OSError, httpx.HTTPError)):
                    raise  # a bug: the SDK logs it with its traceback
                # An unreachable or refusing relay or endpoint (SMTP errors are OSErrors) is
                # the operator's to fix: one line per attempt, and the retry policy goes on.
                activity.logger.warning(
                    "%s to %s not delivered (attempt %d): %s",
                    notification.channel,
                    notification.to,
                    record.attempts,
                    record.last_error,
                )
                raise ApplicationError(
                    record.last_error,
                    type=type(err).__name__,
                    category=ApplicationErrorCategory.BENIGN,
                ) from err
            record.status = "sent"
            record.sent_at = datetime.now(UTC)
            record.last_error = None
            session.add(record)
            with write_lock(self._engine):
                session.commit()

    def _post(self, notification: Notification) -> None:
        body = json.dumps(
            notification.model_dump(mode="json", exclude={"to", "channel"}), sort_keys=True
        ).encode()
        response = httpx.post(
            notification.to,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": notification.key,
                SIGNATURE_HEADER: sign(self._secret, body),
            },
            timeout=self._timeout,
        )
        response.raise_for_status()

    def _mail(self, notification: Notification) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notification.to
        message["Subject"] = notification.subject
        # A stable Message-ID lets mail systems drop a duplicate after a crash mid-send.
        digest = hashlib.sha256(notification.key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@tierline>"
        message.set_content(notification.body)
        host, port = self._smtp
        with smtplib.SMTP(host, port, timeout=self._timeout) as smtp:
            smtp.send_message(message)
