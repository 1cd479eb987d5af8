"""`tierline status`: the headline figures, read from the stack's metrics endpoints.

Open cases by tier and breaches today come from the API (which reads them from the read
model, so they hold whatever process recorded them); the projection's lag, notifications
and the workflow task latency from the worker's counters, which count since the worker
started; mail from the gateway's."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families

from cli.http import out
from cli.stack import metrics_endpoints
from settings import get_settings

TIMEOUT_SECONDS = 5


@dataclass
class Scrape:
    """One endpoint's samples: (name, labels) -> value, or why it could not be read."""

    url: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    error: str | None = None

    def total(self, name: str, **labels: str) -> float:
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        sums: dict[str, float] = defaultdict(float)
        for sample, have, value in self.samples:
            if sample == name and all(have.get(k) == v for k, v in labels.items()):
                sums[have.get(label, "")] += value
        return dict(sums)

    def quantile(self, name: str, share: float) -> float | None:
        """The upper bound of the bucket holding the `share` quantile of histogram `name`,
        over all its series (None before anything was observed)."""
        buckets = self.by(f"{name}_bucket", "le")
        if not buckets:
            return None
        bounds = sorted(buckets.items(), key=lambda item: float(item[0]))
        count = bounds[-1][1]
        if not count:
            return None
        for bound, cumulative in bounds:
            if cumulative >= share * count:
                return float(bound)
        return None


def scrape(url: str, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url, headers=headers, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as err:
        return Scrape(url, error=f"{type(err).__name__}: {err}")
    return Scrape(
        url,
        [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        ],
    )


def _seconds(value: float | None) -> str:
    if value is None:
        return "nothing observed yet"
    if value == float("inf"):
        return "over the largest bucket"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:g} s"


def figures(api: Scrape, worker: Scrape | None, mail: Scrape | None) -> dict[str, Any]:
    """The headline figures from the scrapes (None where an endpoint was not read)."""
    result: dict[str, Any] = {"endpoints": {}}
    for name, scraped in (("api", api), ("worker", worker), ("mail", mail)):
        if scraped is not None:
            result["endpoints"][name] = {"url": scraped.url, "error": scraped.error}
    if api.error is None:
        open_by_tier = api.by("tierline_open_cases", "tier")
        breached_by_tier = api.by("tierline_open_cases_breached", "tier")
        result["open_by_tier"] = {
            tier: {"open": int(count), "breached": int(breached_by_tier.get(tier, 0))}
            for tier, count in sorted(open_by_tier.items())
        }
        result["breaches_today"] = int(api.total("tierline_sla_breaches_today"))
        result["projection_failing_cases"] = int(api.total("tierline_projection_failing_cases"))
        result["quota_refusals"] = int(api.total("tierline_quota_refusals_total"))
    if worker is not None and worker.error is None:
        result["since_worker_start"] = {
            "cases_opened": int(worker.total("tierline_cases_opened_total")),
            "breaches": int(worker.total("tierline_sla_breaches_total")),
            "projection_lag_p99_s": worker.quantile("tierline_projection_lag_seconds", 0.99),
            "projection_failures": int(worker.total("tierline_projection_failures_total")),
            "breach_lateness_p99_s": worker.quantile("tierline_sla_breach_lateness_seconds", 0.99),
            "notifications": {
                k: int(v) for k, v in worker.by("tierline_notifications_total", "outcome").items()
            },
            "workflow_task_schedule_to_start_p99_s": worker.quantile(
                "temporal_workflow_task_schedule_to_start_latency", 0.99
            ),
        }
    if mail is not None and mail.error is None:
        result["mail"] = {
            "received": {
                k: int(v) for k, v in mail.by("tierline_mail_received_total", "outcome").items()
            },
            "processed": {
                k: int(v) for k, v in mail.by("tierline_mail_processed_total", "outcome").items()
            },
        }
    return result


def render(result: dict[str, Any]) -> list[str]:
    lines = []
    for name, endpoint in result["endpoints"].items():
        state = "ok" if endpoint["error"] is None else f"not read: {endpoint['error']}"
        lines.append(f"{name + ' metrics':<16}{endpoint['url']}  {state}")
    if "open_by_tier" in result:
        tiers = result["open_by_tier"]
        shown = [
            f"tier {tier}: {f['open']}" + (f" ({f['breached']} breached)" if f["breached"] else "")
            for tier, f in tiers.items()
        ]
        lines.append(f"{'open cases':<16}{',  '.join(shown) if shown else 'none'}")
        lines.append(f"{'breaches today':<16}{result['breaches_today']}  (since 00:00 UTC)")
        failing = result["projection_failing_cases"]
        lines.append(
            f"{'projection':<16}"
            + (f"FAILING for {failing} case(s): see /ready" if failing else "no case failing")
        )
    if "since_worker_start" in result:
        worker = result["since_worker_start"]
        sent = worker["notifications"]
        lines.append(
            f"{'projection lag':<16}p99 {_seconds(worker['projection_lag_p99_s'])}"
            "  (since the worker started)"
        )
        lines.append(
            f"{'notifications':<16}sent {sent.get('sent', 0)}, failed {sent.get('failed', 0)}, "
            f"retried {sent.get('retried', 0)}  (since the worker started)"
        )
        lines.append(
            f"{'workflow tasks':<16}schedule to start p99 "
            f"{_seconds(worker['workflow_task_schedule_to_start_p99_s'])}"
        )
    if "mail" in result:
        received = result["mail"]["received"]
        processed = result["mail"]["processed"]
        lines.append(
            f"{'mail':<16}accepted {received.get('accepted', 0)}, "
            + ", ".join(f"{k} {v}" for k, v in sorted(processed.items()))
            if processed
            else f"{'mail':<16}accepted {received.get('accepted', 0)}"
        )
    return lines


def status(
    api: Annotated[
        str | None,
        typer.Option(
            envvar="TIERLINE_API",
            help="Base URL of the API, whose /metrics is read (default: API_HOST and API_PORT).",
            show_default=False,
        ),
    ] = None,
    worker: Annotated[
        str | None, typer.Option(help="The worker's /metrics.", show_default=False)
    ] = None,
    mail: Annotated[
        str | None, typer.Option(help="The mail gateway's /metrics.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Open cases by tier, breaches today, projection lag, notifications and mail, from the
    running stack's metrics endpoints (METRICS_TOKEN, when set, is sent to the API's).
    Exits 1 when the API's cannot be read."""
    settings = get_settings()
    defaults = {endpoint.process: endpoint.url for endpoint in metrics_endpoints(settings)}
    api_url = f"{api.rstrip('/')}/metrics" if api else defaults["API"]
    api_scrape = scrape(api_url, settings.metrics_token)
    worker_url = worker or defaults.get("worker")
    mail_url = mail or defaults.get("mail gateway")
    result = figures(
        api_scrape,
        scrape(worker_url) if worker_url else None,
        scrape(mail_url) if mail_url else None,
    )
    if as_json:
        out().print(json.dumps(result, indent=2))
    else:
        for line in render(result):
            out().print(line)
    if api_scrape.error is not None:
        raise typer.Exit(1)
