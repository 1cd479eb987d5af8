"""Organisations: who the customer is, which plan applies, where notifications go."""

from __future__ import annotations

from sqlmodel import Session

from api.errors import Conflict, NotFound, TierlineError
from api.schemas import OrganisationCreate, OrganisationRead
from models.read_model import Organisation
from policies.catalog import Catalog


class InvalidField(TierlineError):
    status = 422
    title = "Invalid request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            f"{field}: {message}",
            errors=[{"field": field, "message": message, "type": "value_error"}],
        )


def create(
    session: Session, catalogs: dict[str, Catalog], body: OrganisationCreate
) -> OrganisationRead:
    catalog_id, plan_id = body.plan.split(":")
    catalog = catalogs.get(catalog_id)
    if catalog is None:
        raise InvalidField("body.plan", f"no catalog {catalog_id!r}; known: {sorted(catalogs)}")
    plan = next((p for p in catalog.plans if p.id == plan_id), None)
    if plan is None:
        known = [p.id for p in catalog.plans]
        raise InvalidField(
            "body.plan", f"catalog {catalog_id} has no plan {plan_id!r}; known: {known}"
        )
    addons = {a.id for a in catalog.addons}
    for index, addon in enumerate(body.addons):
        if addon not in addons:
            raise InvalidField(
                f"body.addons.{index}", f"catalog {catalog_id} has no add-on {addon!r}"
            )
    if session.get(Organisation, body.id) is not None:
        raise Conflict(f"organisation {body.id} exists already")
    row = Organisation(
        id=body.id,
        name=body.name,
        catalog=catalog_id,
        plan=plan_id,
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
        plan=f"{row.catalog}:{row.plan}",
        addons=row.addons,
        contact_emails=row.contact_emails,
        webhook_url=row.webhook_url,
        dedicated_engineer=row.dedicated_engineer,
    )
