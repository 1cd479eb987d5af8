"""Organisations: who the customer is, which plan applies, where notifications go."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session

from api.errors import Conflict, InvalidField, NotFound
from api.schemas import FeeStatement, OrganisationCreate, OrganisationRead, UsageReport
from db.read_model import MonthlyUsage, Organisation
from policies.fees import monthly_price, support_fee
from policies.format import Catalog
from policies.plan_ref import PlanRef
from policies.plan_snapshot import BillingRule
from policies.resolution import resolve_plan


def create(
    session: Session, catalogs: dict[str, Catalog], body: OrganisationCreate
) -> OrganisationRead:
    ref = PlanRef.parse(body.plan)  # the schema's pattern lets only `<catalog>:<plan>` in
    catalog = catalogs.get(ref.catalog)
    if catalog is None:
        raise InvalidField("body.plan", f"no catalog {ref.catalog!r}; known: {sorted(catalogs)}")
    plan = next((p for p in catalog.plans if p.id == ref.plan), None)
    if plan is None:
        known = [p.id for p in catalog.plans]
        raise InvalidField(
            "body.plan", f"catalog {ref.catalog} has no plan {ref.plan!r}; known: {known}"
        )
    addons = {a.id for a in catalog.addons}
    for index, addon in enumerate(body.addons):
        if addon not in addons:
            raise InvalidField(
                f"body.addons.{index}", f"catalog {ref.catalog} has no add-on {addon!r}"
            )
    if session.get(Organisation, body.id) is not None:
        raise Conflict(f"organisation {body.id} exists already")
    row = Organisation(
        id=body.id,
        name=body.name,
        catalog=ref.catalog,
        plan=ref.plan,
        addons=list(body.addons),
        contact_emails=[str(e) for e in body.contact_emails],
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
        dedicated_engineer=str(body.dedicated_engineer) if body.dedicated_engineer else None,
    )
    session.add(row)
    session.commit()
    return read(session, body.id)


def read(session: Session, organisation_id: str) -> OrganisationRead:
    row = session.get(Organisation, organisation_id)
    if row is None:
        raise NotFound(f"organisation {organisation_id} does not exist")
    return OrganisationRead(
        id=row.id,
        name=row.name,
        plan=str(PlanRef(row.catalog, row.plan)),
        addons=row.addons,
        contact_emails=row.contact_emails,
        webhook_url=row.webhook_url,
        dedicated_engineer=row.dedicated_engineer,
    )


def report_usage(session: Session, organisation_id: str, month: str, body: UsageReport) -> None:
    read(session, organisation_id)
    row = session.get(MonthlyUsage, (organisation_id, month)) or MonthlyUsage(
        organisation=organisation_id, month=month, usage_cost=body.usage_cost
    )
    row.usage_cost = body.usage_cost
    row.contract_monthly_fee = body.contract_monthly_fee
    session.add(row)
    session.commit()


def fee_statement(
    session: Session, catalogs: dict[str, Catalog], organisation_id: str, month: str
) -> FeeStatement:
    """The month's support fee by the plan's billing rule, in exact decimals."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id} does not exist")
    year, number = (int(part) for part in month.split("-"))
    plan = resolve_plan(
        catalogs[organisation.catalog],
        organisation.plan,
        datetime(year, number, 1, tzinfo=UTC),
        organisation.addons,
    )
    usage = session.get(MonthlyUsage, (organisation_id, month))
    terms = plan.billing
    usage_cost = usage.usage_cost if usage else None
    contract_fee = usage.contract_monthly_fee if usage else None
    monthly_fee = contract_fee if contract_fee is not None else (terms and monthly_price(terms))
    needs_usage = terms is not None and terms.rule is BillingRule.greater_of_fee_or_usage_share
    fee = None
    if terms is not None and not (needs_usage and usage_cost is None):
        fee = support_fee(plan, usage_cost or Decimal(0), monthly_fee=contract_fee)
    if terms is None:
        explanation = "the plan publishes no billing rule"
    elif needs_usage and usage_cost is None:
        explanation = f"no usage reported for {month}"
    elif needs_usage:
        explanation = f"the greater of the monthly fee and {terms.usage_share} of the usage cost"
    elif fee is None:
        explanation = "the plan publishes no price; report the contract's monthly fee"
    else:
        explanation = terms.rule.value.replace("_", " ")
    return FeeStatement(
        organisation=organisation_id,
        month=month,
        plan=str(PlanRef(organisation.catalog, organisation.plan)),
        rule=terms.rule.value if terms else None,
        currency=terms.currency if terms else None,
        monthly_fee=monthly_fee,
        usage_cost=usage_cost,
        usage_share=terms.usage_share if terms else None,
        fee=fee,
        explanation=explanation,
    )
