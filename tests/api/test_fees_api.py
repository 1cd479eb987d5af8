"""The support-fee statement: the greater of the plan fee or a share of usage (seed 000)."""

from __future__ import annotations

from decimal import Decimal

from tests.api.conftest import Api


async def test_usage_share_billing_takes_the_greater_amount(api: Api) -> None:
    created = await api.admin.post(
        "/organisations", json={"id": "initech", "name": "Initech", "plan": "worldscape:premier"}
    )
    assert created.status_code == 201
    missing = (await api.admin.get("/organisations/initech/fees/2026-10")).json()
    assert missing["fee"] is None
    assert missing["explanation"] == "no usage reported for 2026-10"

    usage = {"usage_cost": "12345.67", "contract_monthly_fee": "1000.00"}
    assert (
        await api.admin.put("/organisations/initech/usage/2026-10", json=usage)
    ).status_code == 204
    statement = (await api.admin.get("/organisations/initech/fees/2026-10")).json()
    assert Decimal(statement["fee"]) == Decimal("1234.567")  # 10 % of usage beats 1000.00

    usage = {"usage_cost": "800.00", "contract_monthly_fee": "1000.00"}
    await api.admin.put("/organisations/initech/usage/2026-10", json=usage)
    statement = (await api.admin.get("/organisations/initech/fees/2026-10")).json()
    assert Decimal(statement["fee"]) == Decimal("1000.00")


async def test_fee_statement_boundaries(api: Api) -> None:
    assert (await api.admin.get("/organisations/acme/fees/2026-13")).status_code == 422
    bad = await api.admin.put("/organisations/acme/usage/2026-10", json={"usage_cost": "-1"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.usage_cost"
    assert (await api.gus.get("/organisations/acme/fees/2026-10")).status_code == 404
    assert (await api.ann.get("/organisations/acme/fees/2026-10")).status_code == 200
    assert (
        await api.ann.put("/organisations/acme/usage/2026-10", json={"usage_cost": "1"})
    ).status_code == 403
