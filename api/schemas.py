"""Request and response bodies of the API that are not workflow payloads."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from models.case import USER_ROLES, Role
from models.notice import NoticeKind
from policies.plan_ref import PLAN_REF_PATTERN

# Instants and days a client may send: wide enough for any case, narrow enough that
# business-time and calendar arithmetic around them never leaves Python's years 1-9999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _supported_instant(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return moment


def _supported_day(day: date) -> date:
    if not EARLIEST.date() <= day < LATEST.date():
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return day


Instant = Annotated[AwareDatetime, AfterValidator(_supported_instant)]
Day = Annotated[date, AfterValidator(_supported_day)]


def _day_as_midnight_utc(value: object) -> object:
    """`2026-11-01` stands for the day's first instant in UTC."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        except ValueError:
            return value
    return value


# An instant, or a plain day meaning 00:00 UTC of that day (as the CLI and the
# attainment report take periods).
InstantOrDay = Annotated[Instant, BeforeValidator(_day_as_midnight_utc)]


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=200)
    plan: str = Field(
        description="`catalog:plan`, e.g. `eu-software-001:gold`",
        pattern=PLAN_REF_PATTERN,
    )
    addons: list[str] = Field(default_factory=list)
    contact_emails: list[EmailStr] = Field(default_factory=list)
    webhook_url: AnyHttpUrl | None = None
    dedicated_engineer: EmailStr | None = None


class OrganisationRead(OrganisationCreate):
    pass


def _user_role(value: object) -> object:
    if isinstance(value, str) and value in USER_ROLES:
        return value
    roles = {"roles": ", ".join(USER_ROLES)}
    if value == Role.system:
        raise PydanticCustomError(
            "enum",
            "system is Tierline's own actor for timers and automatic events, not a user's "
            "role; a user's role is one of {roles}",
            roles,
        )
    raise PydanticCustomError("enum", "a user's role is one of {roles}", roles)


# A role a user may be given: one of `USER_ROLES`, never `system`.
UserRole = Annotated[
    Role,
    BeforeValidator(_user_role),
    WithJsonSchema({"type": "string", "enum": [role.value for role in USER_ROLES]}),
]
Tier = Literal[1, 2, 3]
TIERS = (
    "The tiers an agent works, at least one; an agent acts only on cases in these tiers. "
    "Other roles have none"
)


class UserBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9@._-]+$")
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    role: Role
    organisation: str | None = Field(default=None, description="Required for customers")
    tiers: list[Tier] = Field(default_factory=list, description=TIERS)


class UserCreate(UserBase):
    role: UserRole
    tiers: list[Tier] = Field(
        default_factory=list,
        validate_default=True,
        json_schema_extra={"uniqueItems": True},
        description=TIERS,
    )

    @field_validator("tiers")
    @classmethod
    def _tiers_fit_the_role(cls, tiers: list[Tier], info: ValidationInfo) -> list[Tier]:
        role = info.data.get("role")
        if role is Role.agent and not tiers:
            raise PydanticCustomError(
                "value_error", "an agent works at least one tier: give 1, 2 and/or 3"
            )
        if role is not None and role is not Role.agent and tiers:
            raise PydanticCustomError(
                "value_error", "only agents work tiers; role {role} takes none", {"role": role}
            )
        for tier in tiers:
            if tiers.count(tier) > 1:
                raise PydanticCustomError(
                    "value_error", "each tier once: {tier} is given more than once", {"tier": tier}
                )
        return tiers


class UserRead(UserBase):
    """A user as stored; users created before the API refused a role still list."""


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=200)


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(
        min_length=12, max_length=200, description="At least 12 characters; Argon2-hashed"
    )


class TokenRead(BaseModel):
    id: int
    user_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The bearer token; shown once, stored only as a digest")


class CaseSummary(BaseModel):
    number: int
    organisation: str
    company_name: str
    title: str
    severity: str
    status: str
    tier: int
    assignee: str | None
    breached: bool
    next_due_at: datetime | None
    opened_at: datetime
    updated_at: datetime


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int = Field(description="Cases matching; with `q`, counted up to 1,000 at most")
    total_capped: bool = Field(
        default=False, description="More cases match `q` than `total` says (1,000 or more)"
    )
    limit: int
    offset: int


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor_id: str
    actor_role: str
    reason: str | None
    public: bool
    data: dict[str, Any]


class UsageReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usage_cost: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    contract_monthly_fee: Decimal | None = Field(
        default=None,
        ge=0,
        max_digits=14,
        decimal_places=2,
        description="The contract's monthly plan fee where the catalog publishes none",
    )


class FeeStatement(BaseModel):
    organisation: str
    month: str
    plan: str
    rule: str | None
    currency: str | None
    monthly_fee: Decimal | None
    usage_cost: Decimal | None
    usage_share: Decimal | None
    fee: Decimal | None = Field(description="None when the plan publishes no price")
    explanation: str


class NoticeCreate(BaseModel):
    """A notice and who it is for: named organisations, every organisation on the given
    plans or catalogs (their union), or all organisations."""

    model_config = ConfigDict(extra="forbid")

    kind: NoticeKind
    title: str = Field(min_length=1, max_length=200, examples=["Planned maintenance"])
    body: str = Field(min_length=1, max_length=20_000)
    starts_at: Instant | None = Field(
        default=None, description="Start of the maintenance window (required for outages)"
    )
    ends_at: Instant | None = Field(
        default=None, description="End of the maintenance window (required for outages)"
    )
    organisations: list[str] = Field(default_factory=list, max_length=10_000)
    plans: list[Annotated[str, Field(pattern=PLAN_REF_PATTERN)]] = Field(
        default_factory=list, max_length=100, description="`catalog:plan` values"
    )
    catalogs: list[str] = Field(default_factory=list, max_length=100)
    all_organisations: bool = False


class NoticeSummary(BaseModel):
    id: int
    kind: NoticeKind
    title: str
    body: str
    starts_at: datetime | None
    ends_at: datetime | None
    status: str = Field(description="sending, delivered, or failed (some message could not go)")
    created_at: datetime
    completed_at: datetime | None


class NoticePage(BaseModel):
    items: list[NoticeSummary]
    total: int
    limit: int
    offset: int


class NoticeDelivery(BaseModel):
    organisation: str | None
    channel: str
    recipient: str
    status: str
    attempts: int
    sent_at: datetime | None
    last_error: str | None


class NoticeRead(NoticeSummary):
    organisations: list[str] = Field(description="Affected organisations (customers: their own)")
    messages: int
    delivered: int
    failed: int
    deliveries: list[NoticeDelivery]


class ReleaseSummary(BaseModel):
    version: str
    kind: str
    status: str
    planned_date: date | None
    hotfix_build: str | None
    linked_cases: int
    planned_at: datetime
    shipped_at: datetime | None
    cancelled_reason: str | None
    updated_at: datetime


class ReleasePage(BaseModel):
    items: list[ReleaseSummary]
    total: int
    limit: int
    offset: int
