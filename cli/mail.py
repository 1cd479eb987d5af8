"""`tierline mail`: the mail the development catcher kept (`mail.catcher`), read from its
outbox directory; no API needed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import http

if TYPE_CHECKING:
    from email.message import EmailMessage

    from mail.catcher import CaughtMail, Outbox

app = typer.Typer(
    help="Mail: what the development catcher kept (list, show; make run sends mail there "
    "unless SMTP_HOST names a relay), and what the gateway received (unmatched, accept, "
    "discard; --api/--token or TIERLINE_API/TIERLINE_TOKEN).",
    callback=http.configure,
    no_args_is_help=True,
)
OutboxOption = Annotated[
    Path | None,
    typer.Option(
        "--outbox",
        help="The catcher's outbox directory (default: VAR_DIR/mail/outbox).",
        show_default=False,
    ),
]
# Shown by `show`, in this order, when the message has them.
HEADERS = (
    "Date",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
)


def _outbox(directory: Path | None) -> Outbox:
    from mail.catcher import Outbox
    from settings import get_settings

    return Outbox(directory or get_settings().mail_outbox)


def _utc(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _header(message: EmailMessage, name: str) -> str:
    # A header the parser cannot read is shown as it came rather than failing the listing.
    try:
        value = message[name]
    except (ValueError, IndexError):
        value = message.get_all(name, failobj=[""])[0]
    return " ".join(str(value).split()) if value is not None else ""


def _summary(caught: CaughtMail) -> dict[str, Any]:
    message = caught.message()
    return {
        "number": caught.number,
        "received_at": caught.received_at.isoformat(),
        "mail_from": caught.mail_from,
        "rcpt_tos": list(caught.rcpt_tos),
        "from": _header(message, "From"),
        "to": _header(message, "To"),
        "subject": _header(message, "Subject"),
        "message_id": _header(message, "Message-ID"),
        "file": str(caught.path),
    }


@app.command("list")
def list_mail(
    outbox: OutboxOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per message.")] = False,
) -> None:
    """Every message caught, oldest first: number, when, from, to and subject."""
    from rich.table import Table

    kept = _outbox(outbox)
    summaries = [_summary(caught) for caught in kept.messages()]
    if as_json:
        http.print_json(summaries)
        return
    if not summaries:
        http.out().print(f"No mail in {kept.directory}.")
        return
    table = Table("#", "received (UTC)", "from", "to", "subject")
    for mail in summaries:
        table.add_row(
            str(mail["number"]),
            _utc(mail["received_at"]),
            mail["mail_from"] or mail["from"],
            ", ".join(mail["rcpt_tos"]) or mail["to"],
            mail["subject"],
        )
    http.out().print(table)


@app.command("show")
def show(
    number: Annotated[int, typer.Argument(help="The message's number in `tierline mail list`.")],
    outbox: OutboxOption = None,
    raw: Annotated[bool, typer.Option("--raw", help="The whole message as received.")] = False,
) -> None:
    """One message: the headers that matter and its text."""
    kept = _outbox(outbox)
    caught = kept.get(number)
    if caught is None:
        http.err().print(f"No message {number} in {kept.directory} (see tierline mail list).")
        raise typer.Exit(1)
    if raw:
        typer.echo(caught.raw(), nl=False)
        return
    message = caught.message()
    console = http.out()
    console.print(f"Message {caught.number}, received {_utc(caught.received_at.isoformat())} UTC")
    console.print(
        f"Envelope: from {caught.mail_from or '—'} to {', '.join(caught.rcpt_tos) or '—'}"
    )
    for name in HEADERS:
        if message[name] is not None:
            console.print(f"{name}: {_header(message, name)}")
    console.print("")
    console.print(_text(message))


def _text(message: EmailMessage) -> str:
    """The message's text: its plain part, else its HTML part reduced to text."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return "(no text in this message; --raw shows all of it)"
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_subtype() == "html":
        content = _html_text(content)
    return str(content).replace("\r\n", "\n").rstrip("\n")


def _html_text(html: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.texts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.texts.append(data)

    parser = Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.texts)


# Received mail, over the API: the gateway's unmatched list and an agent's decisions.


@app.command("unmatched")
def unmatched(
    ctx: typer.Context,
    every: Annotated[
        bool, typer.Option("--all", help="Every received mail, not only the held ones.")
    ] = False,
    as_json: http.JsonFlag = False,
) -> None:
    """Mail the gateway held: from no organisation's contact, waiting for an agent."""
    from rich.table import Table

    params = {} if every else {"status": "held"}
    page = http.call(ctx, "GET", "/mail", params={**params, "limit": 200})
    if as_json:
        http.print_json(page)
        return
    table = Table(title="Received mail" if every else "Held mail", title_justify="left")
    for column in ("id", "received (UTC)", "from", "subject", "status", "case", "why"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(
            str(item["id"]),
            http.utc(item["received_at"]),
            item["sender"],
            item["subject"],
            item["status"],
            str(item["case_number"] or "—"),
            item["reason"] or "",
        )
    http.out().print(table)


@app.command("accept")
def accept(
    ctx: typer.Context,
    mail_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="From `unmatched`.")],
    organisation: Annotated[str, typer.Option("--org", help="Whose mail it is.")],
    case: Annotated[
        int | None, typer.Option(min=1, help="Continue this case (default: a new case).")
    ] = None,
    contact: Annotated[
        bool, typer.Option(help="Make the sender one of the organisation's contacts.")
    ] = True,
) -> None:
    """Accept a held mail for an organisation: into one of its cases, or as a new case."""
    body = {"organisation": organisation, "case": case, "add_contact": contact}
    done = http.call(ctx, "POST", f"/mail/{mail_id}/accept", body=body)
    http.out().print(f"Mail {mail_id} {done['status']}: case {done['case_number']}")


@app.command("discard")
def discard(
    ctx: typer.Context,
    mail_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="From `unmatched`.")],
) -> None:
    """Discard a held mail: it opens nothing and stays listed as discarded."""
    done = http.call(ctx, "POST", f"/mail/{mail_id}/discard")
    http.out().print(f"Mail {mail_id} {done['status']}")
