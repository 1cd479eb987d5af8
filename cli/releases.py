"""`tierline releases`: what release managers do through the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cli import http
from cli.http import JsonFlag

app = typer.Typer(
    help="Releases that carry tier-3 cases to a fix"
    " (--api/--token before the command, or TIERLINE_API/TIERLINE_TOKEN).",
    callback=http.configure,
    no_args_is_help=True,
)
Version = Annotated[str, typer.Argument(help="The release's version, e.g. 4.2.2")]


def _print(release: dict[str, Any], as_json: bool) -> None:
    if as_json:
        http.print_json(release)
        return
    console = http.out()
    console.print(
        f"Release {release['version']} ({release['kind']}): {release['status']}"
        + (f", hotfix build {release['hotfix_build']}" if release.get("hotfix_build") else "")
    )
    table = Table("case", "organisation", "priority updates", "linked at (UTC)")
    for case in release["cases"]:
        table.add_row(
            str(case["number"]),
            case["organisation"],
            "yes" if case["priority_updates"] else "no",
            http.utc(case["linked_at"]),
        )
    console.print(table)


@app.command("plan")
def plan(
    ctx: typer.Context,
    version: Version,
    kind: Annotated[str, typer.Option(help="hotfix, patch, service_pack or major")],
    planned_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    notes: Annotated[str, typer.Option()] = "",
    as_json: JsonFlag = False,
) -> None:
    """Plan a release."""
    body = {"version": version, "kind": kind, "planned_date": planned_date, "notes": notes}
    _print(http.call(ctx, "POST", "/releases", body=body), as_json)


@app.command("list")
def list_releases(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None,
        typer.Option(
            help="planned, in_progress, shipped or cancelled; repeat for several.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Releases, most recently planned first."""
    params = {"status": status, "limit": limit, "offset": offset}
    page = http.call(ctx, "GET", "/releases", params=params)
    if as_json:
        http.print_json(page)
        return
    table = Table("version", "kind", "status", "cases", "planned (UTC)", "shipped (UTC)")
    for release in page["items"]:
        table.add_row(
            release["version"],
            release["kind"],
            release["status"],
            str(release["linked_cases"]),
            http.utc(release["planned_at"]),
            http.utc(release["shipped_at"]),
        )
    console = http.out()
    console.print(table)
    shown = len(page["items"])
    first = page["offset"] + 1 if shown else page["offset"]
    console.print(f"{first}-{page['offset'] + shown} of {page['total']}", style="dim")


@app.command("show")
def show(ctx: typer.Context, version: Version, as_json: JsonFlag = False) -> None:
    """Show a release and its linked cases."""
    _print(http.call(ctx, "GET", f"/releases/{version}"), as_json)


@app.command("notes")
def notes(ctx: typer.Context, version: Version) -> None:
    """Print the release notes: fixed cases and affected organisations."""
    http.out().print(http.call(ctx, "GET", f"/releases/{version}/notes")["text"])


@app.command("link")
def link(ctx: typer.Context, version: Version, case: int, as_json: JsonFlag = False) -> None:
    """Link a tier-3 case to the release."""
    _print(http.call(ctx, "PUT", f"/releases/{version}/cases/{case}"), as_json)


@app.command("unlink")
def unlink(ctx: typer.Context, version: Version, case: int, as_json: JsonFlag = False) -> None:
    """Unlink a case from the release."""
    _print(http.call(ctx, "DELETE", f"/releases/{version}/cases/{case}"), as_json)


@app.command("start")
def start(ctx: typer.Context, version: Version, as_json: JsonFlag = False) -> None:
    """Mark the release in progress."""
    _print(http.call(ctx, "POST", f"/releases/{version}/start"), as_json)


@app.command("hotfix")
def hotfix(ctx: typer.Context, version: Version, build: str, as_json: JsonFlag = False) -> None:
    """Publish a hotfix build; plans with priority updates get it at once."""
    _print(http.call(ctx, "POST", f"/releases/{version}/hotfix", body={"build": build}), as_json)


@app.command("ship")
def ship(ctx: typer.Context, version: Version, as_json: JsonFlag = False) -> None:
    """Ship the release: every linked case is resolved with it."""
    _print(http.call(ctx, "POST", f"/releases/{version}/ship"), as_json)


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    version: Version,
    reason: Annotated[str, typer.Option()],
    as_json: JsonFlag = False,
) -> None:
    """Cancel the release: its cases return to the tier-3 queue."""
    _print(http.call(ctx, "POST", f"/releases/{version}/cancel", body={"reason": reason}), as_json)
