"""How `tierline policy show` prints a plan: SLA matrix, calendar, price, features, chain.

Imported by the command when it runs, so that other commands do not load catalogs,
YAML and the `holidays` package.
"""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table
from rich.text import Text

from policies.fees import monthly_price
from policies.format import (
    CLOCKS,
    WEEKDAYS,
    CalendarSpec,
    Catalog,
    CellKind,
    PlanSpec,
    TargetCell,
    interval_text,
)
from policies.plan_ref import PlanRef
from policies.resolution import billing_terms, closed_days

CLOCK_TITLES = {
    "first_response": "first response",
    "periodic_update": "periodic update",
    "resolution": "resolution",
    "tier1_target": "tier-1 target",
}


def print_plan(console: Console, catalog: Catalog, plan: PlanSpec, start: date) -> None:
    calendar = catalog.calendar(plan.calendar)
    day_seconds = calendar.business_day_seconds()
    console.rule(Text.assemble((str(PlanRef(catalog.id, plan.id)), "bold"), f"  {plan.name}"))
    console.print(
        f"Catalog {catalog.name}, version {catalog.version}, {catalog.digest}"
        + (f", seed {catalog.seed}" if catalog.seed else "")
    )
    _note(console, plan.note)

    console.print()
    _field(console, "Price", _price(plan))
    _note(console, plan.notes.get("price"))
    if plan.billing:
        _note(console, plan.billing.note)
    _note(console, plan.notes.get("billing"))
    _field(console, "Channels", ", ".join(plan.channels) or "—")
    _note(console, plan.notes.get("channels"))
    quota = plan.incidents_per_month
    _field(console, "Incidents per month", str(quota) if quota is not None else "—")
    _note(console, plan.notes.get("incidents_per_month"))

    footnotes: list[str] = []
    table = Table(title="SLA targets", title_justify="left", show_lines=False)
    table.add_column("severity")
    table.add_column("starts in")
    for clock in CLOCKS:
        table.add_column(CLOCK_TITLES[clock])
    for severity in catalog.severities:
        cells = [_cell(plan.cell(severity.id, clock), day_seconds, footnotes) for clock in CLOCKS]
        table.add_row(f"{severity.id} {severity.name}", f"tier {severity.starts_in_tier}", *cells)
    console.print()
    console.print(table)
    for number, text in enumerate(footnotes, start=1):
        console.print(f"  [{number}] {text}", style="dim")
    for row in [plan.default_targets, *plan.targets.values()]:
        if row is not None:
            _note(console, row.note)
    _note(console, plan.notes.get("default_targets"))
    _note(console, plan.notes.get("targets"))

    _heading(console, "Severities")
    for severity in catalog.severities:
        console.print(f"  {severity.id}  {severity.name}: {severity.definition or '—'}")

    _print_calendar(console, calendar, day_seconds, start)

    _heading(console, "Features")
    features = plan.features
    rca = features.root_cause_analysis
    rca_text = "—"
    if rca:
        rca_text = f"when {' or '.join(rca.conditions)}"
        if rca.critical_severities:
            rca_text += f" (critical: {', '.join(rca.critical_severities)})"
    console.print(f"  root-cause analysis: {rca_text}")
    console.print(f"  dedicated engineer: {'yes' if features.dedicated_engineer else '—'}")
    channel = features.dedicated_channel
    console.print(f"  dedicated channel: {channel.kind.value if channel else '—'}")
    console.print(f"  priority updates: {'yes' if features.priority_updates else '—'}")
    for item in (rca, channel, features):
        if item is not None:
            _note(console, item.note)
    addons = [addon for addon in catalog.addons if plan.id in addon.plans]
    for addon in addons:
        console.print(
            f"  add-on {addon.id}: {addon.name}"
            + (f" (calendar {addon.calendar})" if addon.calendar else "")
        )
        _note(console, addon.note)

    _heading(console, "Escalation chain")
    if plan.escalation:
        console.print(f"  on: {', '.join(plan.escalation.triggers)}")
        for level, spec in enumerate(plan.escalation.levels, start=1):
            console.print(f"  level {level}: {spec.title} ({spec.role.value})")
        _note(console, plan.escalation.note)
    else:
        console.print("  —")
    _note(console, plan.notes.get("escalation"))
    window = plan.reopen_window
    console.print()
    _field(console, "Reopen window", window.text if window else "—")
    _note(console, plan.notes.get("reopen_window"))

    if plan.exclusions:
        _heading(console, "Exclusions")
        for exclusion_id in plan.exclusions:
            console.print(f"  {exclusion_id}: {catalog.exclusion(exclusion_id).text}")


def _print_calendar(
    console: Console, calendar: CalendarSpec, day_seconds: int, start: date
) -> None:
    _heading(console, f"Calendar {calendar.id}" + (f": {calendar.name}" if calendar.name else ""))
    console.print(f"  zone: {calendar.zone}")
    _note(console, calendar.notes.get("zone"))
    week = calendar.week()
    for weekday, intervals in zip(WEEKDAYS, week, strict=True):
        hours = ", ".join(interval_text(interval) for interval in intervals) or "closed"
        console.print(f"  {weekday}: {hours}")
    console.print(f"  business day: {_length(day_seconds)}")
    _note(console, calendar.notes.get("business_day"))
    if calendar.include_holidays:
        console.print("  holidays: open on holidays (included)")
    if calendar.holidays:
        source = calendar.holidays.country + (
            f"-{calendar.holidays.subdivision}" if calendar.holidays.subdivision else ""
        )
        console.print(f"  holidays: public holidays of {source} (holidays package)")
        _note(console, calendar.holidays.note)
    for recurring in calendar.recurring_closed_dates:
        console.print(
            f"  closed every year on {recurring.day}"
            + (f" ({recurring.name})" if recurring.name else "")
        )
    _note(console, calendar.notes.get("recurring_closed_dates"))
    for closure in calendar.closures:
        console.print(f"  closed {closure.start} to {closure.end}: {closure.reason}")
    upcoming = [
        (day, name)
        for day, name in closed_days(calendar, start.year, start.year + 1).items()
        if day >= start
    ][:5]
    if upcoming:
        console.print(f"  next closed days from {start}:")
        for day, name in upcoming:
            console.print(f"    {day} {day.strftime('%a')}  {name}")
    elif not calendar.include_holidays:
        console.print(f"  no closed days after {start} in the catalog")
    _note(console, calendar.note)


def _cell(cell: TargetCell | None, day_seconds: int, footnotes: list[str]) -> Text:
    if cell is None or cell.kind is CellKind.unset:
        text = Text("—", style="dim")
    elif cell.kind is CellKind.best_effort:
        text = Text("best effort")
    elif cell.kind is CellKind.no_commitment:
        text = Text("no commitment", style="dim")
    else:
        assert cell.duration is not None
        text = Text(cell.text)
        if cell.duration.business_days:
            text.append(f" (= {_length(cell.duration.resolve(day_seconds))})", style="dim")
        elif cell.duration.basis.value == "calendar":
            text.append(" (calendar)", style="dim")
    if cell is not None and cell.note:
        if cell.note not in footnotes:
            footnotes.append(cell.note)
        text.append(f" [{footnotes.index(cell.note) + 1}]", style="dim")
    return text


def _length(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{seconds}s" if seconds else "",
    ]
    return " ".join(part for part in parts if part) or "0s"


def _price(plan: PlanSpec) -> str:
    terms = billing_terms(plan)
    if terms is None:
        return "—" if plan.price is None else f"{plan.price.amount} {plan.price.currency}"
    price = "—"
    if terms.amount is not None:
        price = f"{terms.currency} {terms.amount} / {terms.period}"
        monthly = monthly_price(terms)
        if terms.period == "year" and monthly is not None:
            price += f" ({terms.currency} {monthly} / month)"
    rule = {
        "flat": "flat fee",
        "greater_of_fee_or_usage_share": (
            f"greater of the monthly fee and {float((terms.usage_share or 0) * 100):g}% "
            "of the monthly usage cost"
        ),
        "included_with_subscription": "included with the product subscription",
    }[terms.rule.value]
    invoiced = f", invoiced {terms.invoiced}" if terms.invoiced else ""
    return f"{price}; {rule}{invoiced}"


def _heading(console: Console, text: str) -> None:
    console.print()
    console.print(text, style="bold")


def _field(console: Console, label: str, value: str) -> None:
    console.print(Text.assemble((label, "bold"), "  ", value))


def _note(console: Console, text: str | None) -> None:
    if text:
        console.print(f"    note: {text}", style="dim italic")
