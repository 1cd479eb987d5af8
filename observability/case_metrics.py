"""What a case workflow and the worker's activities count, through the Temporal SDK's
metric meter (served on `WORKER_METRICS_PORT` with the SDK's own metrics). Pure: called
from workflow code, where the meter records nothing during a replay."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from models.case import Channel
from models.clocks import ClockName
from observability.catalog import (
    BREACH_LATENESS,
    CASES_CLOSED,
    CASES_OPENED,
    FIRST_RESPONSE,
    FIRST_RESPONSES,
    NOTIFICATIONS,
    PROJECTION_FAILURES,
    PROJECTION_LAG,
    SLA_BREACHES,
    SLA_WARNINGS,
)

if TYPE_CHECKING:
    from temporalio.common import MetricMeter

    from models.case import CaseEvent, CaseState
    from policies.format import Catalog

OUT_OF_SCOPE = "closed_out_of_scope"


def record_case_events(meter: MetricMeter, state: CaseState, events: Iterable[CaseEvent]) -> None:
    """Count what a case workflow just recorded. Called from workflow code: the meter
    is the workflow's, which records nothing while a history replays."""
    source = state.plan.source
    plan = {"catalog": source.catalog_id, "plan": state.plan.plan_id}
    for event in events:
        kind = event.kind
        if kind == "opened":
            meter.create_counter(CASES_OPENED.name, CASES_OPENED.help).add(
                1, {**plan, "severity": state.severity, "channel": state.details.channel.value}
            )
        elif kind in ("closed", OUT_OF_SCOPE):
            how = "out_of_scope" if kind == OUT_OF_SCOPE else "closed"
            meter.create_counter(CASES_CLOSED.name, CASES_CLOSED.help).add(
                1, {**plan, "severity": state.severity, "how": how}
            )
        elif kind in ("clock_warned", "clock_breached"):
            clock = str(event.data.get("clock", ""))
            metric = SLA_WARNINGS if kind == "clock_warned" else SLA_BREACHES
            meter.create_counter(metric.name, metric.help).add(1, {**plan, "clock": clock})
            due = event.data.get("due_at")
            if kind == "clock_breached" and due is not None:
                late = (event.at - datetime.fromisoformat(str(due))).total_seconds()
                lateness = meter.create_histogram_float(
                    BREACH_LATENESS.name, BREACH_LATENESS.help, "s"
                )
                lateness.record(max(late, 0.0), {"clock": clock})
        elif (
            kind in ("clock_met", "clock_stopped")
            and event.data.get("clock") == ClockName.first_response.value
            and state.first_responded_at == event.at
        ):
            _first_response(meter, state, plan)


def _first_response(meter: MetricMeter, state: CaseState, plan: dict[str, str]) -> None:
    """The first response came: its business seconds, and whether it met the target (a
    clock without a target for this severity counts in the histogram only)."""
    clock = state.clocks.get(ClockName.first_response)
    if clock is None:
        return
    meter.create_histogram_float(FIRST_RESPONSE.name, FIRST_RESPONSE.help, "s").record(
        float(clock.consumed_seconds), {**plan, "severity": state.severity}
    )
    if clock.target.kind == "set" and clock.target.seconds is not None:
        meter.create_counter(FIRST_RESPONSES.name, FIRST_RESPONSES.help).add(
            1, {**plan, "met": "false" if clock.breached else "true"}
        )


# --- the worker's activities ------------------------------------------------------------
def activity_meter() -> MetricMeter | None:
    """The running activity's meter (it labels what it records with the activity's
    namespace, task queue and type); None outside an activity, as in a unit test."""
    from temporalio import activity

    return activity.metric_meter() if activity.in_activity() else None


def record_projection(lag_seconds: float | None, failed: bool = False) -> None:
    meter = activity_meter()
    if meter is None:
        return
    if failed:
        meter.create_counter(PROJECTION_FAILURES.name, PROJECTION_FAILURES.help).add(1)
    elif lag_seconds is not None:
        meter.create_histogram_float(PROJECTION_LAG.name, PROJECTION_LAG.help, "s").record(
            max(lag_seconds, 0.0)
        )


def record_notification(channel: str, outcome: str) -> None:
    """`outcome`: sent, failed (the attempt failed and will be retried), retried (an
    attempt after the first began)."""
    meter = activity_meter()
    if meter is not None:
        meter.create_counter(NOTIFICATIONS.name, NOTIFICATIONS.help).add(
            1, {"channel": channel, "outcome": outcome}
        )


def zero_case_counters(meter: MetricMeter, catalogs: Iterable[Catalog]) -> None:
    """Give every case counter's series of every plan a 0 when the worker starts.

    The SDK creates a series at its first `add`, already at 1, and Prometheus's
    `increase()` cannot see that first step: a plan's first breach after a restart would
    count 0 per hour. `meter` must carry the labels the workflows' meter adds (namespace,
    task queue, workflow type), so that these are the very series the workflows add to."""
    clocks = [name.value for name in ClockName]
    for catalog in catalogs:
        severities = [severity.id for severity in catalog.severities]
        for plan_spec in catalog.plans:
            plan = {"catalog": catalog.id, "plan": plan_spec.id}
            for severity in severities:
                for channel in Channel:
                    meter.create_counter(CASES_OPENED.name, CASES_OPENED.help).add(
                        0, {**plan, "severity": severity, "channel": channel.value}
                    )
                for how in ("closed", "out_of_scope"):
                    meter.create_counter(CASES_CLOSED.name, CASES_CLOSED.help).add(
                        0, {**plan, "severity": severity, "how": how}
                    )
            for clock in clocks:
                for metric in (SLA_WARNINGS, SLA_BREACHES):
                    meter.create_counter(metric.name, metric.help).add(0, {**plan, "clock": clock})
            for met in ("true", "false"):
                meter.create_counter(FIRST_RESPONSES.name, FIRST_RESPONSES.help).add(
                    0, {**plan, "met": met}
                )
