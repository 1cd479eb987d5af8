"""Resolving a catalog's plan into the frozen `PlanSnapshot` a case carries.

Holidays become dates for the years around the opening, business days become seconds,
closures become UTC instants, and the catalog file's digest is recorded, so a running
case does not change when the catalog file or the `holidays` package changes later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo

import holidays

from policies.durations import Duration
from policies.format import (
    CLOCKS,
    CalendarSpec,
    Catalog,
    CellKind,
    PlanSpec,
    PolicyError,
    TargetCell,
    tzinfo_for,
)
from policies.plan_ref import PlanRef
from policies.plan_snapshot import (
    BillingTerms,
    EscalationLevel,
    Exclusion,
    PlanFeatures,
    PlanSnapshot,
    PolicySource,
    RootCauseAnalysisTerms,
    SeverityLevel,
    SeverityTargets,
)
from policies.snapshot import CalendarSnapshot, Closure, Target, TimeBasis


def find_plan(catalogs: dict[str, Catalog], ref: str) -> tuple[Catalog, PlanSpec]:
    """Find '<catalog>:<plan>' or a plan id unique across catalogs (PolicyError otherwise)."""
    if ":" in ref:
        try:
            wanted = PlanRef.parse(ref)
        except ValueError as error:
            raise PolicyError(str(error)) from None
        if wanted.catalog not in catalogs:
            known = ", ".join(sorted(catalogs))
            raise PolicyError(f"no catalog {wanted.catalog!r} (known: {known})")
        catalog = catalogs[wanted.catalog]
        return catalog, catalog.plan(wanted.plan)
    found = [
        (catalog, spec) for catalog in catalogs.values() for spec in catalog.plans if spec.id == ref
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise PolicyError(f"no plan {ref!r} in any catalog; use '<catalog>:<plan>'")
    names = ", ".join(str(PlanRef(catalog.id, spec.id)) for catalog, spec in found)
    raise PolicyError(f"plan {ref!r} is in several catalogs; name one of: {names}")


def closed_days(spec: CalendarSpec, first_year: int, last_year: int) -> dict[date, str]:
    """Every whole local day the calendar is closed in the years, with its name."""
    if last_year < first_year:
        raise PolicyError(f"year range {first_year}..{last_year} is empty")
    days: dict[date, str] = {}
    if spec.holidays is not None:
        source = holidays.country_holidays(
            spec.holidays.country,
            subdiv=spec.holidays.subdivision,
            years=range(first_year, last_year + 1),
        )
        if "en_US" in (source.supported_languages or ()):
            source = holidays.country_holidays(
                spec.holidays.country,
                subdiv=spec.holidays.subdivision,
                years=range(first_year, last_year + 1),
                language="en_US",
            )
        days.update(source.items())
    for explicit in spec.closed_dates:
        if first_year <= explicit.day.year <= last_year:
            days.setdefault(explicit.day, explicit.name or "closed")
    for recurring in spec.recurring_closed_dates:
        month, day = (int(part) for part in recurring.day.split("-"))
        for year in range(first_year, last_year + 1):
            try:
                days.setdefault(date(year, month, day), recurring.name or "closed every year")
            except ValueError:  # 02-29 outside leap years
                continue
    return dict(sorted(days.items()))


def resolve_calendar(spec: CalendarSpec, first_year: int, last_year: int) -> CalendarSnapshot:
    """Freeze a calendar: holidays resolved to dates for the years, closures in UTC."""
    zone = tzinfo_for(spec.zone)
    closures = tuple(
        Closure(
            start=_to_utc(closure.start, zone),
            end=_to_utc(closure.end, zone),
            reason=closure.reason,
        )
        for closure in spec.closures
    )
    return CalendarSnapshot(
        name=spec.id,
        zone=spec.zone,
        week=spec.week(),
        closed_dates=tuple(closed_days(spec, first_year, last_year)),
        closures=closures,
        first_year=first_year,
        last_year=last_year,
        business_day_seconds=spec.business_day_seconds(),
    )


def _to_utc(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def resolve_plan(
    catalog: Catalog, plan_id: str, opened_at: datetime, addons: Sequence[str] = ()
) -> PlanSnapshot:
    """Freeze a plan for a case opened at `opened_at` (timezone-aware), with add-ons applied.

    The calendar covers opened_at's year - 1 to year + 2. An add-on with a calendar
    replaces the plan's; an add-on's features are switched on over the plan's.
    """
    if opened_at.tzinfo is None or opened_at.utcoffset() is None:
        raise PolicyError("opened_at must be timezone-aware")
    plan = catalog.plan(plan_id)
    if len(set(addons)) != len(addons):
        raise PolicyError(f"add-ons named twice: {list(addons)}")
    calendar_id, features = plan.calendar, plan.features
    for addon_id in addons:
        addon = catalog.addon(addon_id)
        if plan.id not in addon.plans:
            raise PolicyError(
                f"add-on {addon.id!r} is not offered with plan {plan.id!r} "
                f"(only with {', '.join(addon.plans)})"
            )
        calendar_id = addon.calendar or calendar_id
        if addon.features is not None:
            switched = addon.features.model_fields_set - {"note", "notes"}
            features = features.model_copy(
                update={name: getattr(addon.features, name) for name in switched}
            )

    opened_at = opened_at.astimezone(UTC)
    calendar = resolve_calendar(
        catalog.calendar(calendar_id), opened_at.year - 1, opened_at.year + 2
    )
    day_seconds = calendar.business_day_seconds
    return PlanSnapshot(
        source=PolicySource(
            catalog_id=catalog.id,
            catalog_name=catalog.name,
            catalog_version=catalog.version,
            catalog_digest=catalog.digest,
            seed=catalog.seed,
        ),
        plan_id=plan.id,
        plan_name=plan.name,
        opened_at=opened_at,
        addons=tuple(addons),
        calendar=calendar,
        channels=tuple(channel.value for channel in plan.channels),
        severities=tuple(
            SeverityLevel(
                id=severity.id,
                name=severity.name,
                rank=rank,
                definition=severity.definition,
                starts_in_tier=severity.starts_in_tier,
            )
            for rank, severity in enumerate(catalog.severities, start=1)
        ),
        targets=tuple(
            SeverityTargets(
                severity=severity.id,
                **{
                    clock: target_of(plan.cell(severity.id, clock), day_seconds) for clock in CLOCKS
                },
            )
            for severity in catalog.severities
        ),
        incidents_per_month=(
            plan.incidents_per_month if isinstance(plan.incidents_per_month, int) else None
        ),
        escalation_triggers=tuple(plan.escalation.triggers) if plan.escalation else (),
        escalation=tuple(
            EscalationLevel(level=level, title=spec.title, role=spec.role)
            for level, spec in enumerate(plan.escalation.levels if plan.escalation else (), 1)
        ),
        reopen_window=_duration_target(plan.reopen_window, day_seconds),
        features=PlanFeatures(
            root_cause_analysis=(
                RootCauseAnalysisTerms(
                    conditions=tuple(features.root_cause_analysis.conditions),
                    critical_severities=tuple(features.root_cause_analysis.critical_severities),
                )
                if features.root_cause_analysis
                else None
            ),
            dedicated_engineer=features.dedicated_engineer,
            dedicated_channel=(
                features.dedicated_channel.kind.value if features.dedicated_channel else None
            ),
            priority_updates=features.priority_updates,
        ),
        exclusions=tuple(
            Exclusion(id=exclusion.id, text=exclusion.text)
            for exclusion in (catalog.exclusion(exclusion_id) for exclusion_id in plan.exclusions)
        ),
        billing=billing_terms(plan),
    )


def target_of(cell: TargetCell | None, business_day_seconds: int) -> Target:
    """The snapshot Target for a catalog cell, business days converted to seconds."""
    if cell is None or cell.kind is CellKind.unset:
        return Target(kind="unset")
    if cell.kind is CellKind.best_effort:
        return Target(kind="best_effort", text=cell.text)
    if cell.kind is CellKind.no_commitment:
        return Target(kind="unset", text=cell.text)
    assert cell.duration is not None
    return _duration_target(cell.duration, business_day_seconds, cell.text)


def _duration_target(
    duration: Duration | None, business_day_seconds: int, text: str | None = None
) -> Target:
    if duration is None:
        return Target(kind="unset")
    return Target(
        kind="set",
        seconds=duration.resolve(business_day_seconds),
        basis=TimeBasis(duration.basis),
        text=text or duration.text,
    )


def billing_terms(plan: PlanSpec) -> BillingTerms | None:
    """A plan's price and billing rule as the snapshot stores them (None: no rule given)."""
    if plan.billing is None:
        return None
    return BillingTerms(
        rule=plan.billing.rule,
        amount=plan.price.amount if plan.price else None,
        currency=plan.price.currency if plan.price else None,
        period=plan.price.period if plan.price else "month",
        usage_share=plan.billing.usage_share,
        invoiced=plan.billing.invoiced,
    )
