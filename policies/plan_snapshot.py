"""The plan a case runs under, frozen when the case opens.

`resolve_plan` (in `policies.resolution`) builds a `PlanSnapshot` from a catalog. The
snapshot travels inside Temporal workflow payloads, so it is a frozen pydantic model
that round-trips through JSON exactly and holds everything the case needs: the
calendar with its holidays already resolved to dates, one `Target` per severity and
clock, the escalation chain, features and exclusions. An auditor reads `source` to
know which catalog file (by SHA-256 digest) applied.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from policies.snapshot import CalendarSnapshot, Frozen, Target


class BillingRule(StrEnum):
    """How a plan's support fee is worked out (see `policies.fees.support_fee`)."""

    flat = "flat"
    greater_of_fee_or_usage_share = "greater_of_fee_or_usage_share"
    included_with_subscription = "included_with_subscription"


class EscalationRole(StrEnum):
    team_lead = "team_lead"
    department_manager = "department_manager"
    executive = "executive"


class EscalationTrigger(StrEnum):
    customer_request = "customer_request"
    target_missed = "target_missed"


class PolicySource(Frozen):
    """Which policy applied: the catalog and the exact bytes of its file."""

    catalog_id: str
    catalog_name: str
    catalog_version: str = Field(description="The catalog's own `version` field.")
    catalog_digest: str = Field(description="'sha256:<hex>' of the catalog file's bytes.")
    seed: str | None = Field(default=None, description="The source document the catalog encodes.")


class SeverityLevel(Frozen):
    """One level of the plan's severity (or priority) scale; `rank` 1 is the most severe."""

    id: str
    name: str
    rank: int = Field(ge=1)
    definition: str | None = None
    starts_in_tier: int = Field(ge=1, le=3)


class SeverityTargets(Frozen):
    """The four SLA clocks' targets for one severity."""

    severity: str
    first_response: Target
    periodic_update: Target
    resolution: Target
    tier1_target: Target = Field(
        description="When it runs out, the case moves from tier 1 to tier 2 by itself."
    )


class EscalationLevel(Frozen):
    """One management escalation level; `level` 1 is the first person escalated to."""

    level: int = Field(ge=1)
    title: str
    role: EscalationRole


class RootCauseAnalysisTerms(Frozen):
    """Root-cause analysis is owed when any condition holds.

    Conditions: `critical` (the case's severity is in `critical_severities`),
    `recurring` (the agent marks the problem as recurring), `always`.
    """

    conditions: tuple[str, ...]
    critical_severities: tuple[str, ...] = ()


class PlanFeatures(Frozen):
    root_cause_analysis: RootCauseAnalysisTerms | None = None
    dedicated_engineer: bool = False
    dedicated_channel: str | None = Field(default=None, description="e.g. 'slack'.")
    priority_updates: bool = Field(
        default=False, description="Tier-3 fixes arrive early, as soon as a hotfix build exists."
    )


class Exclusion(Frozen):
    """A reason an agent may cite to close a case as out of scope."""

    id: str
    text: str


class BillingTerms(Frozen):
    """Price and billing rule. `amount` None: the policy does not publish the price."""

    rule: BillingRule
    amount: Decimal | None = None
    currency: str | None = None
    period: str = Field(default="month", pattern="^(month|year)$")
    usage_share: Decimal | None = Field(
        default=None, description="Share of the monthly usage cost, e.g. 0.10 for 10%."
    )
    invoiced: str | None = Field(default=None, description="'monthly' or 'annually'.")


class PlanSnapshot(Frozen):
    """Everything a case needs from its plan, frozen when the case opens."""

    source: PolicySource
    plan_id: str
    plan_name: str
    opened_at: datetime = Field(description="The instant the snapshot was resolved for (UTC).")
    addons: tuple[str, ...] = Field(default=(), description="Add-on ids applied, in order.")
    calendar: CalendarSnapshot = Field(
        description="The plan's calendar (or an add-on's), holidays resolved for "
        "opened_at's year - 1 to year + 2."
    )
    channels: tuple[str, ...] = ()
    severities: tuple[SeverityLevel, ...] = Field(min_length=1)
    targets: tuple[SeverityTargets, ...] = Field(description="One entry per severity, same order.")
    incidents_per_month: int | None = Field(
        default=None, description="None: no quota (unlimited, or the policy sets none)."
    )
    escalation_triggers: tuple[EscalationTrigger, ...] = ()
    escalation: tuple[EscalationLevel, ...] = Field(
        default=(), description="Management escalation chain; empty when the plan has none."
    )
    reopen_window: Target = Field(
        default=Target(kind="unset"),
        description="How long after resolution a customer may reopen; unset when the "
        "policy gives no window.",
    )
    features: PlanFeatures = PlanFeatures()
    exclusions: tuple[Exclusion, ...] = ()
    billing: BillingTerms | None = None

    def severity(self, severity_id: str) -> SeverityLevel:
        """The severity level with this id (KeyError if the plan's scale has none)."""
        for level in self.severities:
            if level.id == severity_id:
                return level
        raise KeyError(f"plan {self.plan_id!r} has no severity {severity_id!r}")

    def targets_for(self, severity_id: str) -> SeverityTargets:
        """The four clock targets for this severity (KeyError if unknown)."""
        for row in self.targets:
            if row.severity == severity_id:
                return row
        raise KeyError(f"plan {self.plan_id!r} has no severity {severity_id!r}")

    def exclusion(self, exclusion_id: str) -> Exclusion:
        """The exclusion with this id (KeyError if the plan does not list it)."""
        for exclusion in self.exclusions:
            if exclusion.id == exclusion_id:
                return exclusion
        raise KeyError(f"plan {self.plan_id!r} has no exclusion {exclusion_id!r}")
