from datetime import UTC, datetime
from decimal import Decimal

import pytest

from policies.fees import monthly_price, support_fee
from policies.loading import load_catalogs
from policies.plan_snapshot import BillingRule, BillingTerms
from policies.resolution import resolve_plan


@pytest.fixture(scope="module")
def catalogs():
    return load_catalogs()


def greater_of(amount: str | None) -> BillingTerms:
    return BillingTerms(
        rule=BillingRule.greater_of_fee_or_usage_share,
        amount=Decimal(amount) if amount else None,
        currency="USD" if amount else None,
        usage_share=Decimal("0.1"),  # what the loader makes of "10%"
    )


@pytest.mark.parametrize(
    ("usage", "fee"),
    [
        ("0", "500"),
        ("4999.99", "500"),
        ("5000", "500"),
        ("5000.10", "500.010"),
        ("123456.78", "12345.678"),
    ],
)
def test_greater_of_monthly_fee_and_ten_percent_of_usage(usage, fee):
    assert support_fee(greater_of("500"), Decimal(usage)) == Decimal(fee)


def test_usage_share_is_exact():
    fee = support_fee(greater_of("0.01"), Decimal("123.45"))
    assert fee == Decimal("12.345")
    assert str(fee) == "12.345"


def test_worldscape_fee_comes_from_the_contract(catalogs):
    premier = catalogs["worldscape"].plan("premier")
    # The seed publishes no plan fee: unknown without the contract's fee.
    assert support_fee(premier, Decimal("9000")) is None
    assert support_fee(premier, Decimal("9000"), monthly_fee=Decimal("1000")) == Decimal("1000")
    assert support_fee(premier, Decimal("12000"), monthly_fee=Decimal("1000")) == Decimal("1200.0")


def test_works_on_a_resolved_snapshot(catalogs):
    snapshot = resolve_plan(
        catalogs["worldscape"], "premier-plus", datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert support_fee(snapshot, Decimal("30000"), monthly_fee=Decimal("2500")) == Decimal("3000.0")


def test_flat_and_included_plans(catalogs):
    seed_001 = catalogs["eu-software-001"]
    assert support_fee(seed_001.plan("gold"), Decimal("99999")) == Decimal("1499.00")
    assert support_fee(seed_001.plan("enterprise"), Decimal("99999")) == Decimal(0)
    assert support_fee(catalogs["vidizmo"].plan("standard"), Decimal("1")) == Decimal(0)


def test_plans_without_a_billing_rule_have_no_known_fee(catalogs):
    assert support_fee(catalogs["vidizmo"].plan("premium"), Decimal("100")) is None
    assert support_fee(catalogs["us-software-002"].plan("enterprise"), Decimal("100")) is None
    assert support_fee(catalogs["officespace"].plan("support"), Decimal("100")) is None


def test_yearly_prices_are_spread_over_twelve_months():
    terms = BillingTerms(
        rule=BillingRule.flat, amount=Decimal("1000.00"), currency="EUR", period="year"
    )
    assert monthly_price(terms) == Decimal("83.33")
    assert support_fee(terms, Decimal("0")) == Decimal("83.33")


def test_usage_must_be_an_exact_non_negative_decimal():
    with pytest.raises(TypeError, match="Decimal"):
        support_fee(greater_of("500"), 100.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        support_fee(greater_of("500"), Decimal("-1"))
