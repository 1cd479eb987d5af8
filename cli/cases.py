"""`tierline cases`: open, read and work support cases through the API."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import typer
from rich.table import Table
from rich.text import Text

from cli import http
from cli.http import JsonFlag, duration, local, utc, yes
from models.commands import REASON
from models.registry import COMMANDS, CaseCommandSpec, CliArgument

app = typer.Typer(
    help="Open, read and work support cases (--api/--token before the command, or "
    "TIERLINE_API/TIERLINE_TOKEN).",
    callback=http.configure,
    no_args_is_help=True,
)

Number = Annotated[int, typer.Argument(help="The case number.", min=1, show_default=False)]
Reason = Annotated[str, typer.Option(help="Why; recorded in the case history.", show_default=False)]
IdempotencyKey = Annotated[
    str | None,
    typer.Option(help="Send again with the same key and the API applies it once."),
]
Limit = Annotated[int, typer.Option(min=1, max=200, help="Rows per page.")]
Offset = Annotated[int, typer.Option(min=0, help="Rows to skip.")]


@app.command("open")
def open_case(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="Organisation id.", show_default=False)],
    company: Annotated[str, typer.Option(help="Company name.", show_default=False)],
    contact_name: Annotated[str, typer.Option(show_default=False)],
    contact_email: Annotated[str, typer.Option(show_default=False)],
    title: Annotated[str, typer.Option(show_default=False)],
    details: Annotated[
        str, typer.Option(help="What happens; '-' reads stdin.", show_default=False)
    ],
    severity: Annotated[str, typer.Option(help="A severity of the plan.", show_default=False)],
    contact_phone: Annotated[str | None, typer.Option()] = None,
    channel: Annotated[str, typer.Option(help="web, email, phone, chat or api.")] = "web",
    recurring: Annotated[bool, typer.Option(help="The problem has happened before.")] = False,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Open a case; its SLA clocks start at once."""
    if details == "-":
        details = typer.get_text_stream("stdin").read()
    contact: dict[str, Any] = {"name": contact_name, "email": contact_email}
    if contact_phone:
        contact["phone"] = contact_phone
    body = {
        "organisation": org,
        "company_name": company,
        "contact": contact,
        "channel": channel,
        "title": title,
        "details": details,
        "severity": severity,
        "recurring": recurring,
    }
    view = http.call(ctx, "POST", "/cases", body=body, idempotency_key=idempotency_key)
    _print_view_or_state(view, as_json, verb="opened")


@app.command()
def show(ctx: typer.Context, number: Number, as_json: JsonFlag = False) -> None:
    """A case with every SLA clock: due in UTC and plan-local time, elapsed, remaining."""
    view = http.call(ctx, "GET", f"/cases/{number}")
    if as_json:
        http.print_json(view)
        return
    console = http.out()
    details = view["details"]
    contact = details["contact"]
    policy = view["policy"]
    console.print(Text.assemble((f"Case {view['number']}", "bold"), f"  {details['title']}"))
    rows = [
        ("status", view["status"]),
        ("tier", str(view["tier"])),
        ("severity", view["severity"]),
        ("assignee", view["assignee"] or "—"),
        ("organisation", f"{details['organisation']} ({details['company_name']})"),
        ("contact", f"{contact['name']} <{contact['email']}>"),
        ("channel", details["channel"]),
        ("plan", f"{policy['catalog_id']}:{view['plan_id']} (version {policy['catalog_version']})"),
        ("escalation", _escalation(view)),
        ("opened", f"{utc(view['opened_at'])} by {_actor(view['opened_by'])}"),
        ("updated", utc(view["updated_at"])),
        ("next due", utc(view["next_due_at"])),
    ]
    for key, label in (
        ("resolved_at", "resolved"),
        ("closed_at", "closed"),
        ("reopen_until", "reopen until"),
    ):
        if view.get(key):
            rows.append((label, utc(view[key])))
    for key, label in (
        ("resolution_summary", "resolution"),
        ("exclusion", "exclusion"),
        ("release", "release"),
    ):
        if view.get(key):
            rows.append((label, view[key]))
    for label, value in rows:
        console.print(Text.assemble((f"  {label:<13}", "dim"), value))
    console.print(Text.assemble((f"  {'breached':<13}", "dim"), yes(view["breached"])))
    console.print()
    console.print(details["details"])
    console.print()
    console.print(_clocks(view["clocks"]))


@app.command("list")
def list_cases(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None, typer.Option(help="A status; repeat for several.", show_default=False)
    ] = None,
    tier: Annotated[int | None, typer.Option(min=1, max=3)] = None,
    severity: Annotated[str | None, typer.Option()] = None,
    org: Annotated[str | None, typer.Option(help="Organisation id.")] = None,
    assignee: Annotated[str | None, typer.Option()] = None,
    breached: Annotated[
        bool | None, typer.Option("--breached/--not-breached", help="Only (or no) breached cases.")
    ] = None,
    q: Annotated[str | None, typer.Option(help="Words in the title or details.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    as_json: JsonFlag = False,
) -> None:
    """Cases, newest first, filtered (customers see their organisation's only)."""
    params = {
        "status": status,
        "tier": tier,
        "severity": severity,
        "organisation": org,
        "assignee": assignee,
        "breached": None if breached is None else str(breached).lower(),
        "q": q,
        "limit": limit,
        "offset": offset,
    }
    page = http.call(ctx, "GET", "/cases", params=params)
    if as_json:
        http.print_json(page)
        return
    console = http.out()
    console.print(_summaries(page["items"]))
    shown = len(page["items"])
    first = page["offset"] + 1 if shown else page["offset"]
    console.print(f"{first}-{page['offset'] + shown} of {page['total']}", style="dim")


@app.command()
def timeline(ctx: typer.Context, number: Number, as_json: JsonFlag = False) -> None:
    """The case's events: who did what, when and why."""
    entries = http.call(ctx, "GET", f"/cases/{number}/timeline")
    if as_json:
        http.print_json(entries)
        return
    table = Table(title=f"Case {number} timeline", title_justify="left")
    for column in ("seq", "at (UTC)", "event", "by", "reason", "data"):
        table.add_column(column)
    for entry in entries:
        kind = Text(entry["kind"], style="" if entry["public"] else "italic")
        if not entry["public"]:
            kind.append(" (internal)", style="dim")
        table.add_row(
            str(entry["seq"]),
            utc(entry["at"]),
            kind,
            f"{entry['actor_id']} ({entry['actor_role']})",
            entry["reason"] or "",
            json.dumps(entry["data"], ensure_ascii=False) if entry["data"] else "",
        )
    http.out().print(table)


@app.command()
def attachments(ctx: typer.Context, number: Number, as_json: JsonFlag = False) -> None:
    """The files that came with the case's mail."""
    items = http.call(ctx, "GET", f"/cases/{number}/attachments")
    if as_json:
        http.print_json(items)
        return
    table = Table(title=f"Case {number} attachments", title_justify="left")
    for column in ("id", "file", "type", "bytes", "received (UTC)"):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item["id"]),
            item["filename"],
            item["content_type"],
            str(item["size"]),
            utc(item["created_at"]),
        )
    http.out().print(table)


@app.command()
def attachment(
    ctx: typer.Context,
    number: Number,
    attachment_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="From `attachments`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the file.")],
) -> None:
    """Download one attachment of the case."""
    response = http.call_raw(ctx, "GET", f"/cases/{number}/attachments/{attachment_id}")
    output.write_bytes(response.content)
    http.out().print(f"{len(response.content)} bytes written to {output}")


@app.command("mail")
def mail_thread(ctx: typer.Context, number: Number, as_json: JsonFlag = False) -> None:
    """The case's mail thread: what the gateway received and what Tierline sent."""
    items = http.call(ctx, "GET", f"/cases/{number}/mail")
    if as_json:
        http.print_json(items)
        return
    table = Table(title=f"Case {number} mail", title_justify="left")
    for column in ("at (UTC)", "", "address", "subject", "status"):
        table.add_column(column)
    for item in items:
        arrow = "in ←" if item["direction"] == "in" else "out →"
        table.add_row(utc(item["at"]), arrow, item["address"], item["subject"], item["status"])
    http.out().print(table)


@app.command()
def queue(
    ctx: typer.Context,
    tier: Annotated[int, typer.Argument(min=1, max=3, help="Tier 1, 2 or 3.")],
    limit: Limit = 50,
    offset: Offset = 0,
    as_json: JsonFlag = False,
) -> None:
    """A tier's open cases, nearest SLA due instant first."""
    items = http.call(ctx, "GET", f"/queues/{tier}", params={"limit": limit, "offset": offset})
    if as_json:
        http.print_json(items)
        return
    http.out().print(_summaries(items, title=f"Tier {tier} queue"))


# Actions: one command per entry of the case-command registry that has a CLI verb, each
# POSTing to /cases/{number}/<route> and printing the state the case is in now.


def _cli_type(annotation: Any) -> Any:
    """The type typer parses a payload field as; the API validates the rest (`Literal`
    tiers arrive as ints, a bad one comes back as the API's 422)."""
    if get_origin(annotation) is Literal:
        return type(get_args(annotation)[0])
    return annotation


def _parameter(spec: CaseCommandSpec, argument: CliArgument) -> inspect.Parameter:
    field = spec.command.model_fields[argument.field]
    kind = _cli_type(field.annotation)
    help_text = field.description or REASON
    info: Any
    if argument.positional:
        info = typer.Argument(metavar=argument.metavar, help=help_text, show_default=False)
    else:
        flag = "--" + (argument.flag or argument.field).replace("_", "-")
        bounds: dict[str, Any] = {}
        if get_origin(field.annotation) is Literal and kind is int:
            # `Literal[2, 3]`: bad usage, refused here with exit 2 before any request.
            values = get_args(field.annotation)
            bounds = {"min": min(values), "max": max(values)}
        info = typer.Option(flag, help=help_text, show_default=False, **bounds)
    default = inspect.Parameter.empty if field.is_required() else field.default
    return inspect.Parameter(
        argument.field,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, info],
    )


def _action_command(spec: CaseCommandSpec) -> None:
    assert spec.cli is not None and spec.route is not None
    route = spec.route

    def command(**values: Any) -> None:
        ctx, number = values.pop("ctx"), values.pop("number")
        key, as_json = values.pop("idempotency_key"), values.pop("as_json")
        _act(ctx, number, route, values, key, as_json)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("ctx", keyword, annotation=typer.Context),
        inspect.Parameter("number", keyword, annotation=Number),
        *(_parameter(spec, argument) for argument in spec.cli_arguments),
        inspect.Parameter("idempotency_key", keyword, default=None, annotation=IdempotencyKey),
        inspect.Parameter("as_json", keyword, default=False, annotation=JsonFlag),
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    command.__doc__ = spec.summary
    command.__name__ = spec.cli.replace("-", "_")
    app.command(spec.cli)(command)


for _spec in COMMANDS:
    if _spec.cli is not None:
        _action_command(_spec)


def _act(
    ctx: typer.Context,
    number: int,
    path: str,
    body: dict[str, Any],
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    view = http.call(
        ctx, "POST", f"/cases/{number}/{path}", body=body, idempotency_key=idempotency_key
    )
    _print_view_or_state(view, as_json)


def _print_view_or_state(view: dict[str, Any], as_json: bool, verb: str = "is now") -> None:
    if as_json:
        http.print_json(view)
        return
    line = Text.assemble(
        (f"Case {view['number']}", "bold"),
        f" {verb} ",
        (view["status"], "bold"),
        f": tier {view['tier']}, severity {view['severity']}, ",
        f"assignee {view['assignee'] or '—'}, next due {utc(view['next_due_at'])}",
    )
    if view["breached"]:
        line.append(", breached", style="red")
    http.out().print(line)


def _clocks(clocks: list[dict[str, Any]]) -> Table:
    table = Table(title="SLA clocks", title_justify="left")
    for column in (
        "clock",
        "state",
        "target",
        "due (UTC)",
        "due (local)",
        "elapsed",
        "remaining",
        "warned",
        "breached",
    ):
        table.add_column(column)
    for clock in clocks:
        remaining = clock["remaining_seconds"]
        if remaining is not None and remaining < 0:
            left = Text(f"{duration(-remaining)} over", style="red")
        elif clock["met"]:
            left = Text("met", style="green")
        else:
            left = Text(duration(remaining))
        table.add_row(
            clock["name"],
            clock["state"],
            clock["target"],
            utc(clock["due_at"]),
            local(clock["due_local"]),
            duration(clock["elapsed_seconds"]),
            left,
            yes(clock["warned"], "yellow"),
            yes(clock["breached"]),
        )
    return table


def _summaries(items: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in (
        "#",
        "organisation",
        "title",
        "severity",
        "status",
        "tier",
        "assignee",
        "next due (UTC)",
        "breached",
    ):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item["number"]),
            item["organisation"],
            item["title"],
            item["severity"],
            item["status"],
            str(item["tier"]),
            item["assignee"] or "—",
            utc(item["next_due_at"]),
            yes(item["breached"]),
        )
    return table


def _escalation(view: dict[str, Any]) -> str:
    level = view["escalation_level"]
    if not level:
        return "—"
    title = view.get("escalation_title")
    return f"level {level}" + (f" ({title})" if title else "")


def _actor(actor: dict[str, Any]) -> str:
    return f"{actor['id']} ({actor['role']})"
