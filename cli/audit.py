"""`tierline audit`: what auditors do. Reads go through the API; the replay gate replays the
fetched histories against the workflow code of this checkout; `verify` works offline."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cli import http
from cli.http import JsonFlag

if TYPE_CHECKING:  # the replay machinery (Temporal's SDK) loads only for the commands using it
    from audit.replay import ReplaySummary, Verdict

app = typer.Typer(
    help="Audit cases: timelines, replay verdicts, as-of states, evidence bundles, what-if"
    " and SLA attainment (--api/--token before the command, or TIERLINE_API/TIERLINE_TOKEN).",
    callback=http.configure,
    no_args_is_help=True,
)
Case = Annotated[int, typer.Argument(help="The case number", min=1)]
PAGE = 500


@app.command("timeline")
def timeline(ctx: typer.Context, case: Case, as_json: JsonFlag = False) -> None:
    """Every event of the case from its Temporal history: who, what, when and why."""
    data = http.call(ctx, "GET", f"/audit/cases/{case}/timeline")
    if as_json:
        http.print_json(data)
        return
    console = http.out()
    policy = data["policy"]
    source = policy["source"]
    console.print(
        f"Case {data['number']}: {len(data['entries'])} events in {len(data['runs'])} run(s);"
        f" plan {source['catalog_id']}:{policy['plan_id']} (catalog version"
        f" {source['catalog_version']}, {source['catalog_digest']})"
    )
    table = Table("seq", "at (UTC)", "who", "what", "why", "recorded in")
    for entry in data["entries"]:
        what = entry["kind"]
        if entry.get("clock"):
            what += f" ({entry['clock']})"
        table.add_row(
            str(entry["seq"]),
            http.utc(entry["at"]),
            f"{entry['actor']['id']} ({entry['actor']['role']})",
            what,
            entry.get("reason") or "",
            f"run {data['runs'].index(entry['run_id']) + 1}, event {entry['history_event_id']}",
        )
    console.print(table)
    for problem in data["problems"]:
        http.err().print(Text(f"problem: {problem}", style="bold red"))
    if data["problems"]:
        raise typer.Exit(1)


def _closed_cases(ctx: typer.Context, since: str | None, until: str | None) -> list[int]:
    numbers: list[int] = []
    while True:
        page = http.call(
            ctx,
            "GET",
            "/audit/cases",
            params={
                "closed_from": since,
                "closed_until": until,
                "limit": PAGE,
                "offset": len(numbers),
            },
        )
        numbers.extend(page["numbers"])
        if not page["numbers"] or len(numbers) >= page["total"]:
            return numbers


def _instant(value: str | None, option: str) -> str | None:
    """A date or an instant, as an ISO instant with its offset (UTC when none is given)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"not a date or ISO instant: {value!r}", param_hint=option
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


@app.command("replay")
def replay(
    ctx: typer.Context,
    cases: Annotated[list[int] | None, typer.Argument(help="Case numbers")] = None,
    closed_from: Annotated[
        str | None, typer.Option(help="Every case closed at or after (date or instant)")
    ] = None,
    closed_until: Annotated[
        str | None, typer.Option(help="... and before (date or instant)")
    ] = None,
    show_intact: Annotated[bool, typer.Option(help="List intact cases too")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Replay cases' Temporal histories against THIS checkout's workflow code; exits 1 if
    any case diverges or fails, so it can gate a deploy of workflow changes."""
    numbers = list(cases or [])
    if closed_from or closed_until or not numbers:
        numbers += _closed_cases(
            ctx, _instant(closed_from, "--closed-from"), _instant(closed_until, "--closed-until")
        )
    numbers = sorted(set(numbers))
    if not numbers:
        # A deploy gate that checked nothing must not pass as if it had.
        http.err().print("No cases to replay: nothing was checked.")
        raise typer.Exit(2)
    from audit.replay import render_summary

    summary = asyncio.run(_replay(ctx, numbers, quiet=as_json))
    if as_json:
        http.print_json(summary.model_dump(mode="json"))
    else:
        http.out().print(render_summary(summary, show_intact=show_intact))
    if summary.diverged or summary.errors:
        raise typer.Exit(1)


async def _replay(ctx: typer.Context, numbers: list[int], quiet: bool) -> ReplaySummary:
    from audit.history import histories_from_json
    from audit.replay import replay_cases
    from runtime import pin_time_zone_data

    pin_time_zone_data()  # the deadlines the worker computed, from the same zone data

    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[diverged]} diverged"),
        TimeElapsedColumn(),
        console=http.err(),
        disable=quiet,
    )

    async def fetched() -> Any:
        for number in numbers:
            response = await asyncio.to_thread(
                http.call_raw, ctx, "GET", f"/audit/cases/{number}/histories"
            )
            yield number, histories_from_json(response.text)

    diverged = 0
    with progress:
        task = progress.add_task("replay", total=len(numbers), diverged=0)

        def advanced(_: int, verdict: Verdict) -> None:
            nonlocal diverged
            diverged += not verdict.intact
            progress.update(task, advance=1, diverged=diverged)

        return await replay_cases(fetched(), on_progress=advanced)


@app.command("as-of")
def as_of(
    ctx: typer.Context,
    case: Case,
    at: Annotated[str, typer.Option(help="The instant (ISO 8601; UTC when no offset)")],
    as_json: JsonFlag = False,
) -> None:
    """The case and every clock as they stood at an instant, rebuilt from its history."""
    data = http.call(ctx, "GET", f"/audit/cases/{case}/as-of", params={"at": _instant(at, "--at")})
    if as_json:
        http.print_json(data)
        return
    view = data["view"]
    console = http.out()
    console.print(
        f"Case {view['number']} as of {http.utc(data['at'])}: {view['status']}, tier"
        f" {view['tier']}, severity {view['severity']}, escalation level"
        f" {view['escalation_level']} (replayed to event {data['task_event_id']} of run"
        f" {data['run_id']})"
    )
    table = Table("clock", "state", "due (UTC)", "elapsed", "remaining", "warned", "breached")
    for clock in view["clocks"]:
        table.add_row(
            clock["name"],
            clock["state"],
            http.utc(clock.get("due_at")),
            http.duration(clock.get("elapsed_seconds")),
            http.duration(clock.get("remaining_seconds")),
            http.yes(clock.get("warned", False), "yellow"),
            http.yes(clock.get("breached", False)),
        )
    console.print(table)


@app.command("export")
def export(
    ctx: typer.Context,
    case: Case,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default case-N.evidence.json)")
    ] = None,
) -> None:
    """Export the case as one evidence file; note the head digest it prints."""
    response = http.call_raw(ctx, "GET", f"/audit/cases/{case}/evidence")
    path = output or Path(f"case-{case}.evidence.json")
    path.write_bytes(response.content)
    http.out().print(f"wrote {path} ({len(response.content)} bytes)")
    http.out().print(f"head digest {response.headers.get('x-evidence-head', '?')}")


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="An evidence bundle", exists=True, dir_okay=False)],
    head: Annotated[
        str | None, typer.Option(help="The head digest noted at export, to pin the whole file")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check an evidence bundle offline; exits 1 and names each edited part if not intact."""
    from audit.evidence import verify_bundle

    report = verify_bundle(file.read_bytes(), expected_head=head)
    if as_json:
        http.print_json(report.model_dump(mode="json"))
    elif report.intact:
        http.out().print(Text(report.summary(), style="green"))
    else:
        console = http.err()
        console.print(Text(f"{file}: NOT intact", style="bold red"))
        for problem in report.problems:
            console.print(Text.assemble("  ", (problem.part, "bold"), f": {problem.detail}"))
    if not report.intact:
        raise typer.Exit(1)


@app.command("what-if")
def what_if(
    ctx: typer.Context,
    case: Case,
    plan: Annotated[str, typer.Option(help="catalog:plan, e.g. worldscape:premier")],
    as_json: JsonFlag = False,
) -> None:
    """The case's recorded actions under another plan: which clocks would have been met."""
    data = http.call(ctx, "GET", f"/audit/cases/{case}/what-if", params={"plan": plan})
    if as_json:
        http.print_json(data)
        return
    console = http.out()
    console.print(
        f"Case {data['number']} under {data['policy']['catalog_id']}:{data['plan_id']}"
        f" instead of {data['actual_policy']['catalog_id']}:{data['actual_plan_id']}:"
        f" {data['what_if_status']} (really {data['actual_status']}),"
        f" {data['applied']} actions applied, {len(data['refused'])} refused"
    )
    table = Table("clock", "really", "under the other plan", "changed")
    for clock in data["clocks"]:
        table.add_row(
            clock["clock"],
            _outcome(clock["actual"]),
            _outcome(clock["what_if"]),
            http.yes(clock["changed"], "yellow"),
        )
    console.print(table)
    for refused in data["refused"]:
        console.print(
            f"refused: {refused['name']} at {http.utc(refused['at'])}: {refused['reason']}"
        )


def _outcome(outcome: dict[str, Any]) -> str:
    if outcome.get("breached"):
        return "breached"
    if outcome.get("met"):
        return "met"
    state: str = outcome["state"]
    return state


@app.command("attainment")
def attainment(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="Day after the last, YYYY-MM-DD")] = None,
    organisation: Annotated[str | None, typer.Option()] = None,
    format: Annotated[str, typer.Option(help="table, json, csv or html")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file")] = None,
) -> None:
    """SLA attainment per plan, severity, tier, month and clock."""
    if format not in ("table", "json", "csv", "html"):
        raise typer.BadParameter("use table, json, csv or html", param_hint="--format")
    params = {
        "since": since,
        "until": until,
        "organisation": organisation,
        "format": "json" if format == "table" else format,
    }
    response = http.call_raw(ctx, "GET", "/audit/attainment", params=params)
    if format != "table":
        if output:
            output.write_bytes(response.content)
            http.out().print(f"wrote {output}")
        else:
            typer.echo(response.text)
        return
    data = response.json()
    table = Table(
        "plan", "severity", "tier", "month", "clock", "met", "breached", "attainment", "paused"
    )
    for row in data["rows"]:
        share = row.get("attainment")
        table.add_row(
            row["plan"],
            row["severity"],
            str(row["tier"]),
            row["month"],
            row["clock"],
            str(row["met"]),
            str(row["breached"]),
            "—" if share is None else f"{share:.0%}",
            http.duration(int(row["paused_seconds_total"])),
        )
    http.out().print(table)
    if output:
        output.write_text(json.dumps(data, indent=2))
