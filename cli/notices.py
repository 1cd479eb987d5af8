"""`tierline notices`: scheduled outages and business-continuity updates to organisations."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cli import http
from cli.cases import IdempotencyKey, Limit, Offset
from cli.http import JsonFlag

app = typer.Typer(
    help="Notices to customer organisations"
    " (--api/--token before the command, or TIERLINE_API/TIERLINE_TOKEN).",
    callback=http.configure,
    no_args_is_help=True,
)
Many = Annotated[list[str] | None, typer.Option(show_default=False)]


def _print(notice: dict[str, Any], as_json: bool) -> None:
    if as_json:
        http.print_json(notice)
        return
    console = http.out()
    console.print(
        f"Notice {notice['id']} ({notice['kind']}): {notice['title']} [{notice['status']}]"
    )
    if notice.get("starts_at"):
        console.print(f"Window: {http.utc(notice['starts_at'])} to {http.utc(notice['ends_at'])}")
    console.print(f"Organisations: {', '.join(notice['organisations'])}")
    console.print(notice["body"])
    table = Table("organisation", "channel", "recipient", "status", "attempts", "sent (UTC)")
    for delivery in notice["deliveries"]:
        table.add_row(
            delivery["organisation"] or "—",
            delivery["channel"],
            delivery["recipient"],
            delivery["status"],
            str(delivery["attempts"]),
            http.utc(delivery["sent_at"]),
        )
    console.print(table)


@app.command("send")
def send(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option(help="scheduled_outage or business_continuity")],
    title: Annotated[str, typer.Option(show_default=False)],
    body: Annotated[str, typer.Option(show_default=False)],
    starts_at: Annotated[
        str | None, typer.Option(help="Window start, ISO 8601 with offset", show_default=False)
    ] = None,
    ends_at: Annotated[str | None, typer.Option(help="Window end", show_default=False)] = None,
    org: Many = None,
    plan: Annotated[
        list[str] | None, typer.Option(help="catalog:plan; repeat for several", show_default=False)
    ] = None,
    catalog: Many = None,
    all_organisations: Annotated[bool, typer.Option("--all", help="Every organisation.")] = False,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a notice to the organisations named, those on the plans or catalogs, or all."""
    payload = {
        "kind": kind,
        "title": title,
        "body": body,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "organisations": org or [],
        "plans": plan or [],
        "catalogs": catalog or [],
        "all_organisations": all_organisations,
    }
    notice = http.call(ctx, "POST", "/notices", body=payload, idempotency_key=idempotency_key)
    _print(notice, as_json)


@app.command("list")
def list_notices(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(show_default=False)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    as_json: JsonFlag = False,
) -> None:
    """Notices, newest first (customers see those for their organisation)."""
    params = {"kind": kind, "limit": limit, "offset": offset}
    page = http.call(ctx, "GET", "/notices", params=params)
    if as_json:
        http.print_json(page)
        return
    table = Table("id", "kind", "title", "window (UTC)", "status", "created (UTC)")
    for notice in page["items"]:
        window = (
            f"{http.utc(notice['starts_at'])} to {http.utc(notice['ends_at'])}"
            if notice["starts_at"]
            else "—"
        )
        table.add_row(
            str(notice["id"]),
            notice["kind"],
            notice["title"],
            window,
            notice["status"],
            http.utc(notice["created_at"]),
        )
    console = http.out()
    console.print(table)
    shown = len(page["items"])
    first = page["offset"] + 1 if shown else page["offset"]
    console.print(f"{first}-{page['offset'] + shown} of {page['total']}", style="dim")


@app.command("show")
def show(ctx: typer.Context, notice_id: int, as_json: JsonFlag = False) -> None:
    """Show a notice and the status of every message it sent."""
    _print(http.call(ctx, "GET", f"/notices/{notice_id}"), as_json)
