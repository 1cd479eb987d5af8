"""Case payloads: what goes into and comes out of the case workflow.

These models cross the Temporal boundary through the pydantic data converter, so
they stay pure: no settings, no database, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class CaseStatus(StrEnum):
    new = "new"
    tier1 = "tier1"
    tier2 = "tier2"
    tier3 = "tier3"
    waiting_on_customer = "waiting_on_customer"
    resolved = "resolved"
    closed = "closed"
    closed_out_of_scope = "closed_out_of_scope"


class Channel(StrEnum):
    web = "web"
    email = "email"
    phone = "phone"
    chat = "chat"
    api = "api"


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=50)


class CaseDetails(BaseModel):
    """What whoever files a case must give (seed 004: company, contact, details)."""

    model_config = ConfigDict(extra="forbid")

    organisation: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    company_name: str = Field(min_length=1, max_length=200)
    contact: Contact
    channel: Channel = Channel.web
    title: str = Field(min_length=1, max_length=300)
    details: str = Field(min_length=1, max_length=20_000)
    severity: str = Field(min_length=1, max_length=40)


class OpenCase(BaseModel):
    """Command that starts a case workflow."""

    number: int = Field(gt=0)
    details: CaseDetails
    opened_by: str


class CaseView(BaseModel):
    """The live state of a case as its workflow reports it."""

    number: int
    case_id: str
    status: CaseStatus
    tier: int
    details: CaseDetails
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    seq: int = Field(description="Sequence number of the last recorded event")


class CaseProjected(BaseModel):
    """Activity input: the view to write into the read model, keyed by case and seq."""

    view: CaseView


def case_workflow_id(number: int) -> str:
    return f"case-{number}"
