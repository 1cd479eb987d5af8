"""Request and response bodies of the API that are not workflow payloads."""

from __future__ import annotations

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=200)
    plan: str = Field(
        description="`catalog:plan`, e.g. `eu-software-001:gold`",
        pattern=r"^[a-z0-9-]+:[a-z0-9-]+$",
    )
    addons: list[str] = Field(default_factory=list)
    contact_emails: list[EmailStr] = Field(default_factory=list)
    webhook_url: AnyHttpUrl | None = None
    dedicated_engineer: EmailStr | None = None


class OrganisationRead(OrganisationCreate):
    pass
