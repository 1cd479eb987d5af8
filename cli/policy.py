"""`tierline policy`: validate support-policy catalogs and show a plan's terms.

The catalog machinery (YAML, pydantic models, the `holidays` package) is imported by
the commands when they run, not when `tierline` starts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from policies.loading import CatalogIssue

app = typer.Typer(help="Validate support-policy catalogs and show a plan's terms.")


@app.command()
def check(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A catalog file or a directory of *.yaml catalogs (default: the shipped ones).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate catalogs: OK per file, or every problem as file, path and message."""
    from rich.console import Console
    from rich.text import Text

    from policies.loading import CATALOG_DIR, CatalogError, CatalogIssue, load_catalog

    console = Console(highlight=False, markup=False)
    path = path or CATALOG_DIR
    if path.is_dir():
        files = sorted(path.glob("*.yaml"))
        if not files:
            console.print(f"no *.yaml catalogs in {path}", style="red")
            raise typer.Exit(1)
    else:
        files = [path]
    failed = False
    seen: dict[str, Path] = {}
    for file in files:
        try:
            catalog = load_catalog(file)
        except CatalogError as error:
            failed = True
            for issue in error.issues:
                _error(console, issue)
            continue
        if catalog.id in seen:
            failed = True
            message = f"catalog id {catalog.id!r} is also used by {seen[catalog.id]}"
            _error(console, CatalogIssue(str(file), "id", message))
            continue
        seen[catalog.id] = file
        plans = ", ".join(plan.id for plan in catalog.plans)
        console.print(
            Text.assemble(
                ("OK", "green"),
                f" {file} (catalog {catalog.id}, version {catalog.version}, plans {plans}, "
                f"{catalog.digest[:19]})",
            ),
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(1)


@app.command()
def show(
    plan: Annotated[
        str, typer.Argument(help="'<catalog>:<plan>', or a plan id that only one catalog has.")
    ],
    catalogs: Annotated[
        Path | None,
        typer.Option(help="Directory of catalogs (default: the shipped ones).", show_default=False),
    ] = None,
    on: Annotated[
        str | None,
        typer.Option(help="List closed days from this date (YYYY-MM-DD); default today."),
    ] = None,
) -> None:
    """Print a plan's SLA matrix, calendar, price, features and escalation chain."""
    from rich.console import Console

    from cli.plan_view import print_plan
    from policies.loading import CATALOG_DIR, CatalogError, load_catalogs
    from policies.resolution import find_plan

    console = Console(highlight=False, markup=False)  # catalog text is printed as written
    try:
        loaded = load_catalogs(catalogs or CATALOG_DIR)
    except CatalogError as error:
        for issue in error.issues:
            _error(console, issue)
        raise typer.Exit(1) from None
    try:
        catalog, spec = find_plan(loaded, plan)
        start = date.fromisoformat(on) if on else datetime.now(UTC).date()
    except ValueError as error:  # PolicyError, or a bad --on date
        console.print(str(error), style="red")
        raise typer.Exit(1) from None
    print_plan(console, catalog, spec, start)


def _error(console: Console, issue: CatalogIssue) -> None:
    from rich.text import Text

    console.print(
        Text.assemble(
            ("ERROR", "red"), f" {issue.file}: ", (issue.location, "bold"), f": {issue.message}"
        ),
        soft_wrap=True,
    )
