"""Tierline's own metrics, `tierline_*`, with their units in their names: one list, read
by the code that records them, by `tierline status`, and by the test that keeps the
dashboards and alert rules in `deploy/` pointing at metrics that exist.

Two kinds of process record them:

- The worker records what happens to cases (opened, closed, warned, breached, answered)
  and what its activities do (projection, notifications) through the Temporal SDK's
  metric meter (`observability.case_metrics`), so they are served beside the SDK's own
  runtime metrics on `WORKER_METRICS_PORT`. A workflow's meter records nothing while it
  replays, so a case counted once stays counted once whatever the worker replays.
- The API and the mail gateway record mail, quota refusals and idempotent replays with
  prometheus-client (`observability.metrics`); the API also reads the open cases and
  failing projections from the read model when it is scraped.

No label carries a case number, an address or any other value a client chooses:
catalogs, plans, severities, clocks, tiers, channels and outcomes are each a short list
fixed by configuration. Pure: imported by workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric Tierline exposes: its name as scraped, where, and what it means."""

    name: str
    kind: str  # counter, gauge or histogram
    where: str  # worker, api or mail gateway
    help: str
    labels: tuple[str, ...] = ()


# --- recorded by the worker (the Temporal SDK's meter) --------------------------------
CASES_OPENED = Metric(
    "tierline_cases_opened_total",
    "counter",
    "worker",
    "Cases opened",
    ("catalog", "plan", "severity", "channel"),
)
CASES_CLOSED = Metric(
    "tierline_cases_closed_total",
    "counter",
    "worker",
    "Cases closed (confirmed, closed after resolution, or out of scope)",
    ("catalog", "plan", "severity", "how"),
)
SLA_WARNINGS = Metric(
    "tierline_sla_warnings_total",
    "counter",
    "worker",
    "SLA clocks that reached their warning share",
    ("catalog", "plan", "clock"),
)
SLA_BREACHES = Metric(
    "tierline_sla_breaches_total",
    "counter",
    "worker",
    "SLA clocks that passed their due instant unmet",
    ("catalog", "plan", "clock"),
)
BREACH_LATENESS = Metric(
    "tierline_sla_breach_lateness_seconds",
    "histogram",
    "worker",
    "From a clock's due instant to the workflow recording its breach",
    ("clock",),
)
FIRST_RESPONSE = Metric(
    "tierline_first_response_business_seconds",
    "histogram",
    "worker",
    "Time to first response, in the seconds the plan's clock counts (business time)",
    ("catalog", "plan", "severity"),
)
FIRST_RESPONSES = Metric(
    "tierline_first_responses_total",
    "counter",
    "worker",
    "First responses, by whether they met the plan's target",
    ("catalog", "plan", "met"),
)
PROJECTION_LAG = Metric(
    "tierline_projection_lag_seconds",
    "histogram",
    "worker",
    "From a case change being recorded to the read model holding it",
)
PROJECTION_FAILURES = Metric(
    "tierline_projection_failures_total",
    "counter",
    "worker",
    "Attempts to write a case change into the read model that failed",
)
NOTIFICATIONS = Metric(
    "tierline_notifications_total",
    "counter",
    "worker",
    "Notification attempts: sent, failed (to be retried), retried (a second or later try)",
    ("channel", "outcome"),
)

# --- recorded by the API and the mail gateway (prometheus-client) ---------------------
MAIL_RECEIVED = Metric(
    "tierline_mail_received_total",
    "counter",
    "mail gateway",
    "Mail at the SMTP door: accepted (stored), duplicate (stored before) or deferred "
    "(not stored; the sender retries). Mail over the size limit is refused before it is read",
    ("outcome",),
)
MAIL_PROCESSED = Metric(
    "tierline_mail_processed_total",
    "counter",
    "mail gateway",
    "Stored mail, once decided: applied, ignored, held for an agent, refused or failed",
    ("outcome",),
)
QUOTA_REFUSALS = Metric(
    "tierline_quota_refusals_total",
    "counter",
    "api",
    "Cases refused because the month's incident quota was used up",
    ("catalog", "plan"),
)
IDEMPOTENT_REPLAYS = Metric(
    "tierline_idempotent_replays_total",
    "counter",
    "api",
    "Requests answered from a stored answer (a retried Idempotency-Key)",
)
OPEN_CASES = Metric(
    "tierline_open_cases",
    "gauge",
    "api",
    "Cases not closed, from the read model",
    ("tier", "severity"),
)
OPEN_BREACHED = Metric(
    "tierline_open_cases_breached",
    "gauge",
    "api",
    "Open cases with at least one breached clock, from the read model",
    ("tier",),
)
BREACHES_TODAY = Metric(
    "tierline_sla_breaches_today",
    "gauge",
    "api",
    "Clocks breached since 00:00 UTC, from the read model's timelines (whichever worker "
    "recorded them, and across restarts)",
)
PROJECTION_FAILING = Metric(
    "tierline_projection_failing_cases",
    "gauge",
    "api",
    "Cases whose latest change the read model could not store yet",
)

TIERLINE_METRICS = (
    CASES_OPENED,
    CASES_CLOSED,
    SLA_WARNINGS,
    SLA_BREACHES,
    BREACH_LATENESS,
    FIRST_RESPONSE,
    FIRST_RESPONSES,
    PROJECTION_LAG,
    PROJECTION_FAILURES,
    NOTIFICATIONS,
    MAIL_RECEIVED,
    MAIL_PROCESSED,
    QUOTA_REFUSALS,
    IDEMPOTENT_REPLAYS,
    OPEN_CASES,
    OPEN_BREACHED,
    BREACHES_TODAY,
    PROJECTION_FAILING,
)

# Histogram buckets of the worker's metrics (the SDK's exporter takes them per name).
BREACH_LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
PROJECTION_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Business seconds: 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 1 day, 3 days.
FIRST_RESPONSE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
WORKER_BUCKETS = {
    BREACH_LATENESS.name: BREACH_LATENESS_BUCKETS,
    PROJECTION_LAG.name: PROJECTION_LAG_BUCKETS,
    FIRST_RESPONSE.name: FIRST_RESPONSE_BUCKETS,
}
