"""Case payloads: what goes into and comes out of the case workflow.

These models cross the Temporal boundary through the pydantic data converter, so
they stay pure: no settings, no database, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.networks import validate_email

from models.clocks import Clock, ClockName, ClockView
from policies.plan_snapshot import PlanSnapshot, PolicySource


class CaseStatus(StrEnum):
    new = "new"
    tier1 = "tier1"
    tier2 = "tier2"
    tier3 = "tier3"
    waiting_on_customer = "waiting_on_customer"
    resolved = "resolved"
    closed = "closed"
    closed_out_of_scope = "closed_out_of_scope"


TIER_STATUS = {1: CaseStatus.tier1, 2: CaseStatus.tier2, 3: CaseStatus.tier3}
WORKING = frozenset(TIER_STATUS.values())
FINAL = frozenset({CaseStatus.closed, CaseStatus.closed_out_of_scope})


class Channel(StrEnum):
    web = "web"
    email = "email"
    phone = "phone"
    chat = "chat"
    api = "api"


class Role(StrEnum):
    """The role an actor acts in: a user's one of `USER_ROLES`, or Tierline's own."""

    customer = "customer"
    agent = "agent"
    release_manager = "release_manager"
    auditor = "auditor"
    admin = "admin"
    system = "system"


# The roles a user may hold. `system` is Tierline itself (timers, automatic escalations),
# never a user's: the API refuses it.
USER_ROLES = tuple(role for role in Role if role is not Role.system)


class Actor(BaseModel):
    """Who did something: a person's id and the role they acted in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    role: Role


SYSTEM = Actor(id="tierline", role=Role.system)


@lru_cache(maxsize=8192)
def _email(value: str) -> str:
    return validate_email(value)[1]


# pydantic's EmailStr, remembered: a case's contact is decoded again from every payload
# that carries the case (each action's answer, each projection), and checking an address
# costs more than the rest of decoding the case.
Email = Annotated[
    str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})
]


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    email: Email
    phone: str | None = Field(default=None, max_length=50)


# A Message-ID without its angle brackets that a header can carry again: printable ASCII
# but for `<` and `>`.
MESSAGE_ID_PATTERN = r"^[!-;=?-~]+$"


class CaseDetails(BaseModel):
    """What whoever files a case must give (seed 004: company, contact, details)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organisation: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    company_name: str = Field(min_length=1, max_length=200)
    contact: Contact
    channel: Channel = Channel.web
    title: str = Field(min_length=1, max_length=300)
    details: str = Field(min_length=1, max_length=20_000)
    severity: str = Field(min_length=1, max_length=40)
    recurring: bool = Field(default=False, description="The customer has seen this problem before")
    source_message_id: str | None = Field(
        default=None,
        max_length=255,
        pattern=MESSAGE_ID_PATTERN,
        description="Message-ID, without angle brackets, of the e-mail that opened the case: "
        "its acknowledgement answers it and every mail about the case refers to it",
    )


class CaseRouting(BaseModel):
    """Where a case's notifications go, frozen when it opens like its policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_emails: tuple[str, ...] = ()
    customer_webhook: str | None = None
    dedicated_engineer: str | None = Field(default=None, description="E-mail of the named engineer")
    escalation_contacts: dict[int, str] = Field(
        default_factory=dict, description="Management chain level -> e-mail"
    )
    agents_email: str | None = Field(default=None, description="The support team's inbox")


class OpenCase(BaseModel):
    """Command that starts a case workflow."""

    number: int = Field(gt=0)
    details: CaseDetails
    plan: PlanSnapshot
    routing: CaseRouting = CaseRouting()
    opened_by: Actor


class CaseEvent(BaseModel):
    """One recorded fact in a case's history: who did what, when and why."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: Actor
    kind: str
    reason: str | None = None
    public: bool = True
    data: dict[str, Any] = Field(default_factory=dict)


class CaseState(BaseModel):
    """Everything a case workflow knows; carried across continue-as-new."""

    model_config = ConfigDict(frozen=True)

    number: int
    details: CaseDetails
    plan: PlanSnapshot
    routing: CaseRouting
    opened_by: Actor
    opened_at: datetime
    updated_at: datetime
    status: CaseStatus = CaseStatus.new
    tier: int = 1
    severity: str
    assignee: str | None = None
    clocks: dict[ClockName, Clock]
    escalation_level: int = 0
    status_before_waiting: CaseStatus | None = None
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution_summary: str | None = None
    root_cause_analysis: str | None = None
    exclusion: str | None = None
    release: str | None = None
    seq: int = 0


class CaseView(BaseModel):
    """The live state of a case as its workflow reports it."""

    number: int
    case_id: str
    status: CaseStatus
    tier: int
    severity: str
    assignee: str | None
    details: CaseDetails
    opened_by: Actor
    opened_at: datetime
    updated_at: datetime
    policy: PolicySource
    plan_id: str
    escalation_level: int
    escalation_title: str | None
    clocks: list[ClockView]
    next_due_at: datetime | None
    breached: bool
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_until: datetime | None = Field(
        default=None,
        description="While the case is closed: until when it may be reopened (none: it may "
        "not be, or the view was recorded before this field existed)",
    )
    resolution_summary: str | None
    exclusion: str | None
    release: str | None
    priority_updates: bool = Field(
        default=False, description="The plan gets hotfix builds as soon as they exist"
    )
    seq: int = Field(description="Sequence number of the last recorded event")


class CaseProjected(BaseModel):
    """Activity input: the view and new events to write, keyed by case and seq."""

    view: CaseView
    events: list[CaseEvent] = Field(default_factory=list)


def case_workflow_id(number: int) -> str:
    return f"case-{number}"
