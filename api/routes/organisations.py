"""Organisation routes."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import organisations
from api.auth import CurrentUser, require
from api.deps import CatalogsDep, SessionDep
from api.errors import NotFound
from api.schemas import OrganisationCreate, OrganisationRead

router = APIRouter(prefix="/organisations", tags=["organisations"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganisationRead,
    dependencies=[require()],
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
