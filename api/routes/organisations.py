"""Organisation routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api import organisations
from api.auth import CurrentUser, require
from api.deps import CatalogsDep, SessionDep
from api.errors import NotFound
from api.idempotency import IDEMPOTENT
from api.schemas import FeeStatement, OrganisationCreate, OrganisationRead, UsageReport
from models.case import Role

router = APIRouter(prefix="/organisations", tags=["organisations"])
MONTH = r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganisationRead,
    dependencies=[require(), IDEMPOTENT],
)
def create_organisation(
    body: OrganisationCreate, session: SessionDep, catalogs: CatalogsDep
) -> OrganisationRead:
    """Register a customer organisation on a plan of a loaded catalog."""
    return organisations.create(session, catalogs, body)


@router.get("/{organisation_id}", response_model=OrganisationRead)
def get_organisation(
    organisation_id: str, session: SessionDep, user: CurrentUser
) -> OrganisationRead:
    """Read one organisation (customers: their own)."""
    if not user.sees_organisation(organisation_id):
        raise NotFound(f"organisation {organisation_id} does not exist")
    return organisations.read(session, organisation_id)


@router.put(
    "/{organisation_id}/usage/{month}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[require()],
)
def report_usage(
    organisation_id: str,
    month: Annotated[str, Path(pattern=MONTH)],
    body: UsageReport,
    session: SessionDep,
) -> None:
    """Report the month's usage cost (and a contract fee where the catalog has no price)."""
    organisations.report_usage(session, organisation_id, month, body)


@router.get("/{organisation_id}/fees/{month}", response_model=FeeStatement)
def fee_statement(
    organisation_id: str,
    month: Annotated[str, Path(pattern=MONTH)],
    session: SessionDep,
    catalogs: CatalogsDep,
    user: CurrentUser,
) -> FeeStatement:
    """The support-fee statement of one month (customers: their own organisation)."""
    if not user.sees_organisation(organisation_id) or user.role is Role.agent:
        raise NotFound(f"organisation {organisation_id} does not exist")
    return organisations.fee_statement(session, catalogs, organisation_id, month)
