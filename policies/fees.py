"""Monthly support fees, in exact decimals.

`support_fee` works from a plan's billing terms:

- `flat`: the price; a yearly price is spread over 12 months and rounded to the cent
  (half-even), a monthly price is returned as written.
- `greater_of_fee_or_usage_share` (Worldscape): max(monthly fee, usage_share x the
  month's usage cost), exact; no rounding, so 10% of 123.45 is 12.345.
- `included_with_subscription`: Decimal("0"), no separate support fee.

It returns None when the fee cannot be known from the policy: the plan has no billing
rule, or its price is not published (Worldscape's fees are on its pricing page).
Pass `monthly_fee` from the customer's contract to supply a missing price, or to
override a published one (it has no effect on `included_with_subscription`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from policies.format import PlanSpec
from policies.plan_snapshot import BillingRule, BillingTerms, PlanSnapshot
from policies.resolution import billing_terms

CENT = Decimal("0.01")


def monthly_price(terms: BillingTerms) -> Decimal | None:
    """The price per month (None when not published)."""
    if terms.amount is None:
        return None
    if terms.period == "year":
        return (terms.amount / 12).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return terms.amount


def support_fee(
    plan: PlanSpec | PlanSnapshot | BillingTerms,
    month_usage_cost: Decimal,
    *,
    monthly_fee: Decimal | None = None,
) -> Decimal | None:
    """The support fee for one month (see the module docstring for each rule)."""
    if not isinstance(month_usage_cost, Decimal):
        raise TypeError("month_usage_cost must be a Decimal (floats are not exact)")
    if month_usage_cost < 0:
        raise ValueError("month_usage_cost cannot be negative")
    if isinstance(plan, PlanSpec):
        terms = billing_terms(plan)
    elif isinstance(plan, PlanSnapshot):
        terms = plan.billing
    else:
        terms = plan
    if terms is None:
        return None
    if terms.rule is BillingRule.included_with_subscription:
        return Decimal(0)
    fee = monthly_fee if monthly_fee is not None else monthly_price(terms)
    if fee is None:
        return None
    if terms.rule is BillingRule.flat:
        return fee
    assert terms.usage_share is not None  # BillingSpec requires it for this rule
    return max(fee, terms.usage_share * month_usage_cost)
