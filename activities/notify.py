"""Notification delivery: signed HTTP webhooks and e-mail over SMTP, at least once.

The guarantee (the README states the same): a notification is sent until a relay or
endpoint accepts it, and never again once its row in `notifications` says `sent`. A
process that dies after the relay accepted a message but before that row is written,
or an acknowledgement lost on its way back, makes the next attempt send it again: at
least once, not exactly once. Every copy carries the same identity, worked out from the
notification's key: the e-mail's Message-ID, the webhook's Idempotency-Key (and its
signed body), so a receiver can drop the repeat.

Each attempt, to keep the window for a second copy as small as it can be:

1. claims the row (`sending`, one attempt more) in a transaction of its own, committed
   before anything goes out; if the claim cannot be written, nothing is sent;
2. sends;
3. marks the row `sent` at once, before it even says goodbye to the relay.

Nothing about a message's content can stop its row from being written: the row holds
the recipient, the subject without NUL, and the key (or its digest). A message that went
out but whose mark could not be written is no failure: the activity completes and logs
one line, so a broken database never makes a message go out again (its completion in
the workflow's history is the record that holds). A retry that finds `sending` knows the
attempt before it died mid-send, and sends again with the same identity.

Every e-mail is marked automatic (`Auto-Submitted: auto-generated`, RFC 3834, and
`X-Auto-Response-Suppress: All` for Exchange), so out-of-office replies stay quiet. An
e-mail about a case has the case tag before its subject (`mail.tag`, the format handed
in) and threads under the case: `References` lists the mail that opened it, if one did,
then the case's thread root `<case-n@tierline>`; `In-Reply-To` is the mail it answers
(the opening mail, for the acknowledgement), else the thread root.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import smtplib
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from mail.tag import DEFAULT_CASE_TAG_FORMAT, case_tag, check_tag_format, thread_root
from models.case import MESSAGE_ID_PATTERN
from models.notifications import Notification
from observability.case_metrics import record_notification

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

SIGNATURE_HEADER = "X-Tierline-Signature"
MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)
# What a webhook's body leaves out of the notification: where it goes, and mail threading.
NOT_IN_WEBHOOK = frozenset({"to", "channel", "in_reply_to", "references", "audience"})
# The length of `notifications.key`; PostgreSQL refuses a longer value.
KEY_LENGTH = 400


def sign(secret: str, body: bytes) -> str:
    """The value of the signature header: `sha256=` and the HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def message_id(key: str) -> str:
    """The Message-ID of every copy of the e-mail with this notification key."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@tierline>"


def thread_headers(notification: Notification) -> tuple[str | None, list[str]]:
    """The e-mail's In-Reply-To and References, Message-IDs in angle brackets. An id no
    header can carry (a space, a bracket, not ASCII) is left out."""
    usable = MESSAGE_ID.fullmatch
    answered = notification.in_reply_to if usable(notification.in_reply_to or "") else None
    references = [r for r in notification.references if usable(r)]
    if notification.case_number is not None:
        root = thread_root(notification.case_number)
        answered = answered or root
        references = [*dict.fromkeys([*references, root])]
    return (f"<{answered}>" if answered else None), [f"<{r}>" for r in references]


def record_key(key: str) -> str:
    """The key of a notification's row: its own key, or `sha256:` and the key's digest for
    a key the column cannot hold (too long, as a long webhook URL makes it, or with NUL)."""
    if len(key) <= KEY_LENGTH and "\x00" not in key:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def header_text(text: str) -> str:
    """`text` fit for a mail header: control characters (line breaks, NUL) become U+FFFD."""
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" else c for c in text)


class Notifier:
    """Delivers notifications, each at least once and, once recorded as sent, never
    again: rows in `notifications` keyed by the notification's key."""

    def __init__(
        self,
        engine: Engine,
        *,
        smtp_host: str,
        smtp_port: int,
        sender: str,
        webhook_secret: str,
        case_tag_format: str = DEFAULT_CASE_TAG_FORMAT,
        http_timeout: float = 10.0,
        portal_url: str | None = None,
    ) -> None:
        self._engine = engine
        self._smtp = (smtp_host, smtp_port)
        self._sender = sender
        self._secret = webhook_secret
        self._tag_format = check_tag_format(case_tag_format)
        self._timeout = http_timeout
        self._portal = portal_url.rstrip("/") if portal_url else None

    def subject(self, notification: Notification) -> str:
        """The subject as sent and recorded: the case tag first, for a case's messages."""
        if notification.case_number is None:
            return notification.subject
        return f"{case_tag(notification.case_number, self._tag_format)} {notification.subject}"

    @activity.defn(name="deliver_notification")
    def deliver(self, notification: Notification) -> None:
        """Claim, send, mark sent; nothing if it was sent already. A failed send or claim
        raises and retries; a failed mark after a send does not."""
        from sqlalchemy.exc import SQLAlchemyError

        notification = notification.model_copy(update={"subject": self.subject(notification)})
        mail = self._message(notification) if notification.channel == "email" else None
        key = record_key(notification.key)
        # A webhook's URL is often its own credential: logs and errors name its origin.
        hidden = notification.to if notification.channel == "webhook" else None
        what = (
            f"{notification.channel} to {_origin(notification.to) if hidden else notification.to}"
        )
        with contextlib.ExitStack() as held:
            try:
                connection = held.enter_context(self._engine.connect())
                claimed = self._claim(connection, key, notification)
            except SQLAlchemyError as err:
                raise self._failed(what, "not claimed, nothing sent", None, err, hidden) from err
            if claimed is None:
                return
            attempt, previous = claimed
            if attempt > 1:
                record_notification(notification.channel, "retried")
            if previous == "sending":
                activity.logger.warning(
                    "%s: outcome of attempt %d unknown; sending again with the same %s",
                    what,
                    attempt - 1,
                    "Message-ID" if mail is not None else "Idempotency-Key",
                )
            relay: smtplib.SMTP | None = None
            try:
                if mail is not None:
                    relay = self._mail(mail)
                else:
                    self._post(notification)
            except Exception as err:
                record_notification(notification.channel, "failed")
                self._record_failure(connection, what, key, _one_line(err, hidden))
                if not isinstance(err, (OSError, httpx.HTTPError)):
                    raise  # a bug: the SDK logs it with its traceback
                # An unreachable or refusing relay or endpoint (SMTP errors are OSErrors) is
                # the operator's to fix: one line per attempt, and the retry policy goes on.
                raise self._failed(what, "not delivered", attempt, err, hidden) from err
            record_notification(notification.channel, "sent")
            try:
                self._mark_sent(connection, key)
            except SQLAlchemyError as err:
                activity.logger.error(
                    "%s sent but not recorded as sent (attempt %d): %s",
                    what,
                    attempt,
                    _one_line(err),
                )
            finally:
                if relay is not None:
                    _goodbye(relay)

    def _claim(
        self, connection: Connection, key: str, notification: Notification
    ) -> tuple[int, str | None] | None:
        """Mark the row `sending` for this attempt, committed: the attempt's number and
        the status the previous attempt left, or None when the message was sent already."""
        from sqlalchemy import insert, select, update

        from db.read_model import storable, utcnow, write_lock

        table = _notifications()
        with write_lock(self._engine), connection.begin():
            found = connection.execute(
                select(table.c.status, table.c.attempts).where(table.c.key == key).with_for_update()
            ).first()
            if found is None:
                row: dict[str, Any] = {
                    "key": key,
                    "case_number": notification.case_number,
                    "notice_id": notification.notice_id,
                    "organisation": notification.organisation,
                    "event_seq": notification.event_seq,
                    "event_kind": notification.event_kind,
                    "channel": notification.channel,
                    "recipient": notification.to,
                    "subject": notification.subject,
                    "message_id": message_id(notification.key)[1:-1]
                    if notification.channel == "email"
                    else None,
                }
                values = {**storable(row), "status": "sending", "attempts": 1}
                connection.execute(insert(table).values(created_at=utcnow(), **values))
                return 1, None
            status, attempts = found
            if status == "sent":
                return None
            connection.execute(
                update(table)
                .where(table.c.key == key)
                .values(status="sending", attempts=attempts + 1)
            )
            return attempts + 1, status

    def _mark_sent(self, connection: Connection, key: str) -> None:
        from sqlalchemy import update
        from sqlalchemy.exc import SQLAlchemyError

        from db.read_model import utcnow, write_lock

        table = _notifications()
        statement = (
            update(table)
            .where(table.c.key == key)
            .values(status="sent", sent_at=utcnow(), last_error=None)
        )
        try:
            with write_lock(self._engine), connection.begin():
                connection.execute(statement)
        except SQLAlchemyError:
            # The connection held since the claim may have gone stale during a slow send:
            # once more on a fresh one.
            with write_lock(self._engine), self._engine.begin() as fresh:
                fresh.execute(statement)

    def _record_failure(self, connection: Connection, what: str, key: str, error: str) -> None:
        """Note why the attempt failed, and that it sent nothing (`pending`). Not noted
        when the database fails too: the row stays `sending`, the retry sends anyway."""
        from sqlalchemy import update
        from sqlalchemy.exc import SQLAlchemyError

        from db.read_model import storable, write_lock

        table = _notifications()
        try:
            with write_lock(self._engine), connection.begin():
                connection.execute(
                    update(table)
                    .where(table.c.key == key)
                    .where(table.c.status == "sending")
                    .values(status="pending", last_error=storable(error)[:1000])
                )
        except SQLAlchemyError as err:
            activity.logger.warning("failure of %s not recorded: %s", what, _one_line(err))

    @staticmethod
    def _failed(
        what: str, outcome: str, attempt: int | None, err: Exception, hidden: str | None = None
    ) -> ApplicationError:
        """One warning line, and the benign error that retries without a traceback (in the
        history too: `hidden`, a webhook's URL, is reduced to its origin in both)."""
        reason = _one_line(err, hidden)
        numbered = f" (attempt {attempt})" if attempt is not None else ""
        activity.logger.warning("%s %s%s: %s", what, outcome, numbered, reason)
        return ApplicationError(
            reason, type=type(err).__name__, category=ApplicationErrorCategory.BENIGN
        )

    def _post(self, notification: Notification) -> None:
        body = json.dumps(
            notification.model_dump(mode="json", exclude=set(NOT_IN_WEBHOOK)), sort_keys=True
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

    def _message(self, notification: Notification) -> EmailMessage:
        """The e-mail, built before anything is claimed: one that cannot be built is a bug
        that must not leave a claim behind."""
        from db.read_model import storable

        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notification.to
        message["Subject"] = header_text(notification.subject)
        message["Date"] = format_datetime(datetime.now(UTC))
        # The same on every copy, so mail systems can drop a repeat after a crash mid-send.
        message["Message-ID"] = message_id(notification.key)
        in_reply_to, references = thread_headers(notification)
        if in_reply_to is not None:
            message["In-Reply-To"] = in_reply_to
        if references:
            message["References"] = " ".join(references)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(storable(self.body(notification)))
        return message

    def body(self, notification: Notification) -> str:
        """The mail's text: a case's customer also reads where the case is on the portal."""
        if (
            self._portal is None
            or notification.audience != "customer"
            or notification.case_number is None
        ):
            return notification.body
        page = f"{self._portal}/portal/cases/{notification.case_number}"
        return f"{notification.body}\n\nThe case on the support portal: {page}\n"

    def _mail(self, message: EmailMessage) -> smtplib.SMTP:
        """Hand the message to the relay; returns the open session, to be closed once the
        delivery is recorded (QUIT is one more round trip in the window for a repeat)."""
        host, port = self._smtp
        smtp = smtplib.SMTP(host, port, timeout=self._timeout)
        try:
            smtp.send_message(message)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _goodbye(smtp: smtplib.SMTP) -> None:
    """QUIT, whatever the relay answers: the message was accepted before it."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _notifications() -> Any:
    from db.read_model import NotificationRecord

    return NotificationRecord.__table__  # type: ignore[attr-defined]


def _one_line(err: BaseException, hidden: str | None = None) -> str:
    """The error in one line, `hidden` (a webhook's URL) reduced to its origin."""
    from db.read_model import describe_error

    line = describe_error(err)
    return line.replace(hidden, _origin(hidden)) if hidden else line


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL, without its user, path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
