"""The mail gateway's metrics, scraped over real HTTP from the endpoint it serves, after
real SMTP deliveries: each outcome counted once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mail.intake import APPLIED, HELD
from observability import metrics
from tests.conftest import free_port
from tests.mail.conftest import MailDoor, mail


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = metrics.serve("127.0.0.1", port)
    assert server is not None
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()


async def outcomes(url: str) -> dict[tuple[str, str], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    return {
        (sample.name, sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name in ("tierline_mail_received_total", "tierline_mail_processed_total")
    }


async def test_accepted_duplicate_and_held_mail_are_counted(door: MailDoor, endpoint: str) -> None:
    before = await outcomes(endpoint)
    message = mail("Counted", "Once, though sent twice.", message_id="<count@acme.example>")
    assert (await door.deliver(message, "ann@acme.example")).status == APPLIED
    await asyncio.to_thread(door.send, message, "ann@acme.example")
    stranger = mail("Hello", "Who are you?", sender="eve@evil.example")
    assert (await door.deliver(stranger, "eve@evil.example")).status == HELD
    after = await outcomes(endpoint)

    def moved(name: str, outcome: str) -> float:
        return after.get((name, outcome), 0) - before.get((name, outcome), 0)

    assert moved("tierline_mail_received_total", "accepted") == 2
    assert moved("tierline_mail_received_total", "duplicate") == 1
    assert moved("tierline_mail_received_total", "deferred") == 0
    assert moved("tierline_mail_processed_total", APPLIED) == 1
    assert moved("tierline_mail_processed_total", HELD) == 1
