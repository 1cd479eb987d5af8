"""The API's /metrics, scraped over real HTTP before and after real actions: each counter
and gauge moves by exactly what happened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from db.read_model import CaseEventRecord
from tests.api.conftest import Api
from tests.builders import case_body

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_opens_replays_and_quota_refusals_are_counted(api: Api) -> None:
    before = await scrape(api.anonymous)
    key = {"Idempotency-Key": "metrics-1"}
    first = await api.ann.post("/cases", json=case_body(severity="normal"), headers=key)
    again = await api.ann.post("/cases", json=case_body(severity="normal"), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    number = first.json()["number"]
    for _ in range(3):
        assert (await api.ann.get(f"/cases/{number}")).status_code == 200
    assert (await api.ann.get("/cases/999999")).status_code == 404
    # short-sla:fast allows 4 incidents a month: three more open, the fifth is refused.
    opens = await asyncio.gather(
        *(api.ann.post("/cases", json=case_body(severity="normal")) for _ in range(4))
    )
    assert sorted(r.status_code for r in opens) == [201, 201, 201, 409]
    after = await scrape(api.anonymous)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    posts = {"handler": "/cases", "method": "POST"}
    assert moved("http_requests_total", **posts, status="2xx") == 2 + 3
    assert moved("http_requests_total", **posts, status="4xx") == 1
    reads = {"handler": "/cases/{number}", "method": "GET"}
    assert moved("http_requests_total", **reads, status="2xx") == 3
    assert moved("http_requests_total", **reads, status="4xx") == 1
    # Latency by route template: every request observed once, none under a case number.
    assert moved("http_request_duration_seconds_count", **reads, status="2xx") == 3
    assert moved("http_request_duration_seconds_count", **reads, status="4xx") == 1
    assert not any("999999" in str(labels) for _, labels in after)
    assert moved("tierline_idempotent_replays_total") == 1
    assert moved("tierline_quota_refusals_total", catalog="short-sla", plan="fast") == 1
    # Four open cases, all normal, in tier 1 (read from the read model at the scrape).
    assert value(after, "tierline_open_cases", tier="1", severity="normal") == 4
    assert value(after, "tierline_projection_failing_cases") == 0
    # The scrape itself is not counted.
    assert moved("http_requests_total", handler="/metrics", method="GET", status="2xx") == 0


async def test_open_cases_follow_their_tier_and_closing(api: Api) -> None:
    opened = await api.ann.post("/cases", json=case_body(severity="critical"))
    number = opened.json()["number"]
    samples = await scrape(api.anonymous)
    # Critical starts in tier 2 on short-sla:fast.
    assert value(samples, "tierline_open_cases", tier="2", severity="critical") == 1
    assert value(samples, "tierline_open_cases", tier="1", severity="critical") == 0
    closed = await api.bob.post(
        f"/cases/{number}/close-out-of-scope",
        json={"exclusion": "third-party", "reason": "their database"},
    )
    assert closed.status_code == 200, closed.text
    samples = await scrape(api.anonymous)
    assert value(samples, "tierline_open_cases", tier="2", severity="critical") == 0


async def test_breaches_today_counts_the_timelines_breaches_since_midnight_utc(api: Api) -> None:
    """The gauge reads the read model, whichever worker recorded the breach: here two
    breaches written as a worker's projection would write them, one of them yesterday."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with Session(api.engine) as session:
        for seq, at in enumerate((now, midnight - timedelta(seconds=1)), start=1):
            session.add(
                CaseEventRecord(
                    case_number=900,
                    seq=seq,
                    at=at,
                    kind="clock_breached",
                    actor_id="system",
                    actor_role="system",
                    public=False,
                    data={"clock": "first_response"},
                )
            )
        session.commit()
    samples = await scrape(api.anonymous)
    # Should midnight pass between the insert and the scrape, neither counts as today.
    today = 1 if datetime.now(UTC).date() == now.date() else 0
    assert value(samples, "tierline_sla_breaches_today") == today
