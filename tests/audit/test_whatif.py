"""A recorded case's commands under another plan: purely computed, the real case untouched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from audit.history import case_histories, case_start, histories_to_json
from audit.whatif import CaseRefusedUnderPlan, ClockComparison, WhatIfReport, what_if
from models.clocks import ClockName
from tests.audit.conftest import RecordedCase
from tests.builders import plan_snapshot


def clock(report: WhatIfReport, name: ClockName) -> ClockComparison:
    return next(c for c in report.clocks if c.clock is name)


def test_under_its_own_plan_the_case_comes_out_as_it_did(recorded_case: RecordedCase) -> None:
    plan = case_start(recorded_case.histories).plan
    report = what_if(recorded_case.histories, plan)
    assert report.refused == []
    assert report.what_if_status == report.actual_status
    assert report.what_if_escalation_level == report.actual_escalation_level == 3
    for comparison in report.clocks:
        actual, imagined = comparison.actual, comparison.what_if
        assert not comparison.changed, comparison.clock
        assert (imagined.due_at, imagined.state) == (actual.due_at, actual.state)
        if actual.breached_at is not None:
            # The real timer fires a moment after the due instant; the what-if at it.
            assert imagined.breached_at is not None
            assert imagined.breached_at == imagined.due_at
            assert actual.breached_at - imagined.breached_at < timedelta(seconds=1)


def test_breaches_on_the_fast_plan_are_met_on_a_slower_one(recorded_case: RecordedCase) -> None:
    slower = plan_snapshot("short-sla:office", recorded_case.opened_at)
    report = what_if(recorded_case.histories, slower)
    resolution = clock(report, ClockName.resolution)
    assert resolution.actual.breached and not resolution.actual.met
    assert resolution.what_if.met and not resolution.what_if.breached
    assert resolution.changed
    assert resolution.what_if.target == "2 business days"
    first_response = clock(report, ClockName.first_response)
    assert first_response.actual.met and first_response.what_if.met
    # The office plan has no management chain: the customer's request is refused, skipped.
    assert [r.name for r in report.refused] == ["request_management_escalation"]
    assert "no management escalation" in report.refused[0].reason
    assert report.what_if_escalation_level == 0
    assert report.policy.catalog_id == "short-sla" and report.plan_id == "office"
    assert report.actual_plan_id == "fast"


def test_what_was_met_on_the_fast_plan_breaches_on_a_faster_one(
    recorded_case: RecordedCase,
) -> None:
    faster = plan_snapshot("short-sla:instant", recorded_case.opened_at)
    report = what_if(recorded_case.histories, faster)
    first_response = clock(report, ClockName.first_response)
    assert first_response.actual.met and not first_response.actual.breached
    assert first_response.what_if.breached and not first_response.what_if.met
    assert first_response.what_if.breached_at == first_response.what_if.due_at
    assert first_response.what_if.due_at is not None
    assert (first_response.what_if.due_at - report.opened_at).total_seconds() <= 6
    assert report.model_dump(mode="json")["clocks"][0]["changed"] in (True, False)


def test_a_plan_without_the_case_severity_cannot_open_it(recorded_case: RecordedCase) -> None:
    other = plan_snapshot("eu-software-001:gold", recorded_case.opened_at)
    with pytest.raises(CaseRefusedUnderPlan):
        what_if(recorded_case.histories, other)


async def test_the_real_case_history_is_unchanged(
    recorded_case: RecordedCase, time_skipping_env: WorkflowEnvironment
) -> None:
    before = histories_to_json(await case_histories(time_skipping_env.client, recorded_case.number))
    for plan in ("short-sla:office", "short-sla:instant", "short-sla:fast"):
        what_if(recorded_case.histories, plan_snapshot(plan, recorded_case.opened_at))
    after = histories_to_json(await case_histories(time_skipping_env.client, recorded_case.number))
    assert after == before == histories_to_json(recorded_case.histories)
