"""Deflections: a customer's "this solved it" counted per plan and month, and only for
articles that customer may read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from api.auth import Principal
from api.knowledge import deflection_counts, record_deflection
from models.case import Role
from tests.api.conftest import Api
from tests.knowledge.test_articles_api import ACME_PLAN, published


async def test_a_deflection_counts_for_the_customers_plan_and_month(api: Api) -> None:
    acme_only = (await published(api, visibility="plans", plans=[ACME_PLAN]))["id"]
    public = (await published(api, visibility="public"))["id"]
    staff = (await published(api, visibility="staff"))["id"]

    body = {"article": acme_only, "query": "Exports time out on big files"}
    recorded = await api.ann.post("/kb/deflections", json=body)
    assert recorded.status_code == 201, recorded.text
    deflection = recorded.json()
    assert (deflection["organisation"], deflection["plan"], deflection["user_id"]) == (
        "acme",
        ACME_PLAN,
        "ann",
    )
    assert deflection["query"] == "Exports time out on big files"
    # The same problem again (a reload, the form sent twice, other spacing or case): the
    # one recorded, counted once; another problem with the same article counts again.
    again = await api.ann.post(
        "/kb/deflections", json={**body, "query": " exports  TIME out on big files"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == deflection["id"]
    assert (await api.ann.post("/kb/deflections", json={"article": public})).status_code == 201
    # Not for articles the customer cannot read, and only customers deflect.
    assert (await api.gus.post("/kb/deflections", json=body)).status_code == 404
    assert (await api.ann.post("/kb/deflections", json={"article": staff})).status_code == 404
    assert (await api.bob.post("/kb/deflections", json=body)).status_code == 403
    assert (await api.anonymous.post("/kb/deflections", json=body)).status_code == 401
    too_long = await api.ann.post("/kb/deflections", json={**body, "query": "x" * 301})
    assert too_long.json()["errors"][0]["field"] == "body.query"
    assert (await api.gus.post("/kb/deflections", json={"article": public})).status_code == 201

    month = datetime.now(UTC).strftime("%Y-%m")
    report = (await api.ada.get("/kb/deflections")).json()
    assert report["rows"] == [
        {"plan": ACME_PLAN, "month": month, "deflected": 2},  # the repeat counted once
        {"plan": "us-software-002:enterprise", "month": month, "deflected": 1},
    ]
    assert report["total"] == 3
    acme = (await api.bob.get("/kb/deflections", params={"organisation": "acme"})).json()
    assert acme["rows"] == [{"plan": ACME_PLAN, "month": month, "deflected": 2}]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    later = (await api.ada.get("/kb/deflections", params={"since": tomorrow})).json()
    assert later["rows"] == []
    assert (await api.ann.get("/kb/deflections")).status_code == 403
    backwards = await api.ada.get(
        "/kb/deflections", params={"since": "2026-12-02", "until": "2026-12-01"}
    )
    assert backwards.json()["errors"][0]["field"] == "query.until"


async def test_the_portal_records_deflections_through_the_function(api: Api) -> None:
    article = (await published(api, visibility="customers"))["id"]
    ann = Principal(id="ann", role=Role.customer, organisation="acme")
    recorded = record_deflection(api.engine, ann, article, "Exports fail")
    assert (recorded.plan, recorded.article_id) == (ACME_PLAN, article)
    counts = deflection_counts(api.engine, organisation="acme")
    assert [(row.plan, row.deflected) for row in counts.rows] == [(ACME_PLAN, 1)]
