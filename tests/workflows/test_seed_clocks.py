"""Every seed plan's SLA clocks on the time-skipping server: due instants at Friday
afternoons, holiday eves and daylight-saving switches, each warning and breach once.

Opening instants are found from the virtual clock ("the next Friday", "the next
switch in March or October"), so the tests hold whatever day they run. Expectations
come three ways: `due_at` on the frozen calendar, a by-hand walk through the seed's
published hours (`OfficeHours.due`, which shares no code with the engine), and literal
wall times stated for a few pinned cases.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from db.read_model import CaseEventRecord
from models.case import CaseView
from models.clocks import ClockName, ClockState
from policies.business_time import due_at
from policies.loading import load_catalogs
from policies.plan_snapshot import PlanSnapshot
from policies.snapshot import Target
from tests.builders import open_case, plan_snapshot
from tests.conftest import VENV_BIN, register_search_attributes
from tests.workflows.case_harness import (
    CaseHandle,
    clock,
    skip_to,
    start,
    terminate_started,
    view_when,
)
from tests.workflows.office_hours import (
    BERLIN,
    CHICAGO,
    DAY,
    DE_HOLIDAYS,
    EU_OFFICE,
    OFFICESPACE,
    US_HOLIDAYS,
    US_STANDARD,
    OfficeHours,
    eve_of_holiday,
    friday_before_open_monday,
    last_open_day_before,
    next_day,
    next_dst_switch,
)
from worker import build_worker
from workflows.case import CaseWorkflow

# `due` rounds a start with a fractional second up to the next whole second.
ROUNDING = timedelta(seconds=1)
# A timer fires at its instant; the workflow task that records it starts a moment later
# (the virtual clock runs on while the server waits for the worker).
FIRING_SLACK = timedelta(seconds=5)
NUMBERS = itertools.count(5001)


# ---------------------------------------------------------------------------------------


@dataclass
class Case:
    number: int
    plan: PlanSnapshot
    severity: str
    handle: CaseHandle
    view: CaseView
    nominal: datetime

    def assert_wall_time(self, shown: datetime, expected: datetime) -> None:
        """`shown` is the expected local wall time, moved on by as long as the case took to
        open after the chosen instant (the virtual clock runs while a test talks to the
        server), rounded up to a whole second."""
        lag = self.view.opened_at - self.nominal
        assert timedelta(0) <= shown - expected - lag <= ROUNDING, (shown, expected, lag)
        assert shown.utcoffset() == expected.utcoffset()

    def target(self, name: ClockName) -> Target:
        targets = self.plan.targets_for(self.severity)
        return {
            ClockName.first_response: targets.first_response,
            ClockName.periodic_update: targets.periodic_update,
            ClockName.resolution: targets.resolution,
            ClockName.tier1: targets.tier1_target,
        }[name]

    def due(self, name: ClockName, share: tuple[int, int] = (1, 1)) -> datetime | None:
        """The engine's instant for `share` of the clock's target (None: not enforced)."""
        target = self.target(name)
        if clock(self.view, name).state is not ClockState.running or target.kind != "set":
            return None
        assert target.seconds is not None
        numerator, denominator = share
        seconds = -(-target.seconds * numerator // denominator)
        return due_at(self.view.opened_at, seconds, target.basis, self.plan.calendar)

    def due_local(self, name: ClockName) -> datetime:
        shown = clock(self.view, name).due_local
        assert shown is not None
        return datetime.fromisoformat(shown)


@pytest.fixture(scope="module")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this module's own: these tests skip months ahead, and a
    workflow another module left running with work due would stop time from skipping."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
async def client(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> AsyncIterator[Client]:
    async with build_worker(time_skipping_env.client, sqlite_engine, task_queue, activity_executor):
        yield time_skipping_env.client
        await terminate_started()


def plans_with_targets(catalog_id: str) -> list[tuple[str, str]]:
    """Every (plan, severity) of a seed catalog with at least one set target."""
    catalog = load_catalogs()[catalog_id]
    found = []
    for plan in catalog.plans:
        snapshot = plan_snapshot(f"{catalog_id}:{plan.id}", datetime.now(UTC))
        for severity in catalog.severities:
            targets = snapshot.targets_for(severity.id)
            cells = (targets.first_response, targets.periodic_update, targets.resolution)
            if any(cell.kind == "set" for cell in (*cells, targets.tier1_target)):
                found.append((f"{catalog_id}:{plan.id}", severity.id))
    return found


async def open_at(
    env: WorkflowEnvironment,
    client: Client,
    task_queue: str,
    instant: datetime,
    refs: list[tuple[str, str]],
) -> list[Case]:
    """Skip to `instant` and open one case per (plan, severity) there."""
    await skip_to(env, instant)
    cases = []
    for plan_ref, severity in refs:
        number = next(NUMBERS)
        command = open_case(number, plan_ref, instant, severity=severity)
        handle = await start(client, command, task_queue)
        view = await handle.query(CaseWorkflow.view)
        cases.append(Case(number, command.plan, severity, handle, view, instant))
    return cases


def assert_due_instants(cases: list[Case], by_hand: OfficeHours | None) -> int:
    """Each clock's due instant is the engine's and, on office hours, the by-hand walk's."""
    enforced = 0
    for case in cases:
        for name in ClockName:
            shown = clock(case.view, name)
            expected = case.due(name)
            assert shown.due_at == expected, (case.plan.plan_id, case.severity, name)
            if expected is None:
                continue
            enforced += 1
            assert case.due_local(name) == expected
            if by_hand is not None:
                seconds = case.target(name).seconds
                assert seconds is not None
                walked = by_hand.due(case.view.opened_at, seconds)
                assert timedelta(0) <= expected - walked <= ROUNDING, (case.severity, name)
    return enforced


def recorded(engine: Engine, number: int) -> list[CaseEventRecord]:
    with Session(engine) as session:
        query = select(CaseEventRecord).where(CaseEventRecord.case_number == number)
        return list(session.exec(query))


def flag(view: CaseView, name: ClockName, kind: str) -> bool:
    shown = clock(view, name)
    return shown.warned if kind == "warned" else shown.breached


def flagged(name: ClockName, kind: str) -> Callable[[CaseView], bool]:
    return lambda view: flag(view, name, kind)


async def pass_deadlines(env: WorkflowEnvironment, engine: Engine, cases: list[Case]) -> None:
    """Skip past every 75 % and due instant; each warning and breach fires once, on time."""
    marks = sorted(
        (instant, index, name, kind)
        for index, case in enumerate(cases)
        for name in ClockName
        for kind, share in (("warned", (3, 4)), ("breached", (1, 1)))
        if (instant := case.due(name, share)) is not None
    )
    for instant, group in itertools.groupby(marks, key=lambda mark: mark[0]):
        due_here = [(cases[index], name, kind) for _, index, name, kind in group]
        if await env.get_current_time() < instant - ROUNDING:
            await skip_to(env, instant - ROUNDING)
            for case, name, kind in due_here:
                view = await case.handle.query(CaseWorkflow.view)
                assert not flag(view, name, kind), (case.severity, name, kind, instant)
        await skip_to(env, instant + ROUNDING)
        for case, name, kind in due_here:
            await view_when(case.handle, flagged(name, kind))

    # Long after the last deadline nothing fires again.
    if marks:
        await skip_to(env, marks[-1][0] + 3 * DAY)
    for case in cases:
        events = recorded(engine, case.number)
        for name in ClockName:
            for kind, share in (("warned", (3, 4)), ("breached", (1, 1))):
                fired = [e for e in events if e.kind == f"clock_{kind}" and e.data["clock"] == name]
                instant = case.due(name, share)
                if instant is None:
                    assert fired == [], (case.severity, name, kind)
                    continue
                assert len(fired) == 1, (case.severity, name, kind)
                at = fired[0].at if fired[0].at.tzinfo else fired[0].at.replace(tzinfo=UTC)
                assert instant <= at < instant + FIRING_SLACK, (case.severity, name, kind)


def first(cases: list[Case], plan_id: str, severity: str) -> Case:
    return next(c for c in cases if c.plan.plan_id == plan_id and c.severity == severity)


# ---------------------------------------------------------------------------------------


async def test_officespace_support_hours(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    env, hours = time_skipping_env, OFFICESPACE
    refs = plans_with_targets("officespace")
    assert {severity for _, severity in refs} == {"critical", "technical", "basic"}

    # Friday 21:00, an hour before closing.
    friday = next_day(
        await env.get_current_time(),
        hours.zone,
        lambda d: d.weekday() == 4 and all(hours.open_on(d + n * DAY) for n in (0, 3, 4)),
    )
    cases = await open_at(env, client, task_queue, hours.at(friday, 21), refs)
    assert assert_due_instants(cases, hours) == 3
    monday, tuesday = friday + 3 * DAY, friday + 4 * DAY
    # 2 h: Friday 21-22, Monday 05-06. 4 h: to 08:00. 24 h: 1 + 17 (Monday) + 6.
    for severity, expected in [
        ("critical", hours.at(monday, 6)),
        ("technical", hours.at(monday, 8)),
        ("basic", hours.at(tuesday, 11)),
    ]:
        case = first(cases, "support", severity)
        case.assert_wall_time(case.due_local(ClockName.first_response), expected)
    await pass_deadlines(env, sqlite_engine, cases)

    # The evening before Christmas or New Year's Day.
    eve = eve_of_holiday(hours, await env.get_current_time())
    assert (eve + DAY).strftime("%m-%d") in {"12-25", "01-01"}
    cases = await open_at(env, client, task_queue, hours.at(eve, 21), refs)
    assert_due_instants(cases, hours)
    after = hours.next_open_day(eve + DAY)
    case = first(cases, "support", "critical")
    case.assert_wall_time(case.due_local(ClockName.first_response), hours.at(after, 6))
    await pass_deadlines(env, sqlite_engine, cases)

    # A fixed offset ignores Chicago's daylight-saving switch: from 21:00 on the last
    # working day before it to 06:00 on the next one is whole days less 15 hours of UTC.
    switch = next_dst_switch(await env.get_current_time(), CHICAGO)
    before = last_open_day_before(hours, switch)
    after = hours.next_open_day(before)
    cases = await open_at(env, client, task_queue, hours.at(before, 21), refs[:1])
    assert cases[0].severity == "critical"
    assert_due_instants(cases, hours)
    due = cases[0].due_local(ClockName.first_response)
    cases[0].assert_wall_time(due, hours.at(after, 6))
    span = (after - before) - timedelta(hours=15)
    assert timedelta(0) <= due - cases[0].view.opened_at - span <= ROUNDING
    await pass_deadlines(env, sqlite_engine, cases)


async def test_us_software_002_standard_business_days(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    env, hours = time_skipping_env, US_STANDARD
    refs = plans_with_targets("us-software-002")
    standard = [ref for ref in refs if ref[0].endswith(":standard")]
    assert {severity for _, severity in standard} == {"high", "medium", "low"}

    # Friday 16:00 Chicago: one business day (9 h) is 1 h on Friday and 8 h on Monday.
    friday = friday_before_open_monday(hours, await env.get_current_time())
    cases = await open_at(env, client, task_queue, hours.at(friday, 16), standard)
    assert assert_due_instants(cases, hours) == 3
    monday = friday + 3 * DAY
    for case in cases:
        case.assert_wall_time(case.due_local(ClockName.first_response), hours.at(monday, 16))
    # 75 % is 6 h 45 min: 1 h on Friday, then Monday 08:00 + 5 h 45 min.
    warn = cases[0].due(ClockName.first_response, (3, 4))
    assert warn is not None
    cases[0].assert_wall_time(warn.astimezone(CHICAGO), hours.at(monday, 13, 45))
    await pass_deadlines(env, sqlite_engine, cases)

    # Saturday 10:00, outside hours: the day starts Monday 08:00, so it ends 17:00.
    saturday = next_day(
        await env.get_current_time(),
        CHICAGO,
        lambda d: d.weekday() == 5 and hours.open_on(d + 2 * DAY),
    )
    cases = await open_at(env, client, task_queue, hours.at(saturday, 10), standard[:1])
    assert_due_instants(cases, hours)
    assert cases[0].due_local(ClockName.first_response) == hours.at(saturday + 2 * DAY, 17)
    await pass_deadlines(env, sqlite_engine, cases)

    # 16:00 on the eve of a US holiday: the remaining 8 h fall on the next business day.
    eve = eve_of_holiday(hours, await env.get_current_time())
    assert eve + DAY in US_HOLIDAYS
    cases = await open_at(env, client, task_queue, hours.at(eve, 16), standard[:1])
    assert_due_instants(cases, hours)
    cases[0].assert_wall_time(
        cases[0].due_local(ClockName.first_response), hours.at(hours.next_open_day(eve), 16)
    )
    await pass_deadlines(env, sqlite_engine, cases)

    # The last business day before a daylight-saving switch, 16:00: still 16:00 local
    # on the next business day, an hour more or less of UTC in between.
    switch = next_dst_switch(await env.get_current_time(), CHICAGO)
    before = last_open_day_before(hours, switch)
    cases = await open_at(env, client, task_queue, hours.at(before, 16), standard[:1])
    assert_due_instants(cases, hours)
    due = cases[0].due_local(ClockName.first_response)
    expected = hours.at(hours.next_open_day(before), 16)
    cases[0].assert_wall_time(due, expected)
    assert expected.utcoffset() != hours.at(before, 16).utcoffset()
    await pass_deadlines(env, sqlite_engine, cases)


async def test_us_software_002_enterprise_escalates_on_breach(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    env = time_skipping_env
    enterprise = [ref for ref in plans_with_targets("us-software-002") if ":enterprise" in ref[0]]
    assert {severity for _, severity in enterprise} == {"high", "medium", "low"}

    # 01:45 on the night of a switch: 30 minutes of real time later the wall clock reads
    # 03:15 (spring forward) or 01:15 for the second time (fall back). Both switches.
    offsets = set()
    for _ in range(2):
        switch = next_dst_switch(await env.get_current_time(), CHICAGO)
        opened = datetime.combine(switch, time(1, 45), tzinfo=CHICAGO)
        spring = (opened + timedelta(hours=2)).utcoffset() == timedelta(hours=-5)
        offsets.add(spring)
        expected = (
            datetime.combine(switch, time(3, 15), tzinfo=CHICAGO)
            if spring
            else datetime.combine(switch, time(1, 15), tzinfo=CHICAGO).replace(fold=1)
        )
        assert expected.utcoffset() != opened.utcoffset()
        cases = await open_at(env, client, task_queue, opened, enterprise)
        assert assert_due_instants(cases, None) == 3
        for case in cases:
            due = case.due_local(ClockName.first_response)
            case.assert_wall_time(due, expected)
            elapsed = due - case.view.opened_at
            assert timedelta(minutes=30) <= elapsed <= timedelta(minutes=30) + ROUNDING
            assert case.view.next_due_at == case.due(ClockName.first_response, (3, 4))

        high = cases[0]
        warn = high.due(ClockName.first_response, (3, 4))
        breach = high.due(ClockName.first_response)
        assert warn is not None and breach is not None
        assert breach - warn == timedelta(minutes=7, seconds=30)
        await skip_to(env, warn + ROUNDING)
        view = await view_when(high.handle, flagged(ClockName.first_response, "warned"))
        assert view.escalation_level == 0
        await skip_to(env, breach + ROUNDING)
        view = await view_when(high.handle, lambda v: v.escalation_level == 1)
        assert view.escalation_title == "Support team lead"
        await pass_deadlines(env, sqlite_engine, cases)

        for case in cases:
            view = await case.handle.query(CaseWorkflow.view)
            assert view.escalation_level == 1  # one missed target, one level
            events = recorded(sqlite_engine, case.number)
            escalated = [e for e in events if e.kind == "management_escalated"]
            breached = next(e for e in events if e.kind == "clock_breached")
            assert [(e.data["level"], e.actor_role) for e in escalated] == [(1, "system")]
            assert "first_response" in (escalated[0].reason or "")
            assert escalated[0].at == breached.at
            assert escalated[0].seq == breached.seq + 1
    assert offsets == {True, False}


async def test_eu_software_001_business_hours(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    env, hours = time_skipping_env, EU_OFFICE
    refs = plans_with_targets("eu-software-001")
    assert {plan for plan, _ in refs} == {
        "eu-software-001:professional",
        "eu-software-001:enterprise",
        "eu-software-001:gold",
    }

    # Friday 16:00 Berlin, every plan and severity: 8 business hours end Monday 16:00.
    friday = friday_before_open_monday(hours, await env.get_current_time())
    cases = await open_at(env, client, task_queue, hours.at(friday, 16), refs)
    assert assert_due_instants(cases, hours) == 15
    for plan_id in ("gold", "enterprise"):
        case = first(cases, plan_id, "sev1")
        case.assert_wall_time(
            case.due_local(ClockName.first_response), hours.at(friday + 3 * DAY, 16)
        )
    # Gold sev1 resolution, 16 h: 1 h Friday, 8 h Monday, 7 h Tuesday.
    case = first(cases, "gold", "sev1")
    case.assert_wall_time(
        case.due_local(ClockName.resolution),
        hours.at(hours.next_open_day(friday + 3 * DAY), 16),
    )
    # Professional commits to nothing but a severity-4 first response.
    assert [s for p, s in refs if p.endswith(":professional")] == ["sev4"]
    await pass_deadlines(env, sqlite_engine, cases)

    gold_and_enterprise = [ref for ref in refs if ":professional" not in ref[0]]

    # 16:00 on the eve of a German public holiday.
    eve = eve_of_holiday(hours, await env.get_current_time())
    assert eve + DAY in DE_HOLIDAYS
    cases = await open_at(env, client, task_queue, hours.at(eve, 16), gold_and_enterprise)
    assert_due_instants(cases, hours)
    case = first(cases, "gold", "sev1")
    case.assert_wall_time(
        case.due_local(ClockName.first_response), hours.at(hours.next_open_day(eve), 16)
    )
    await pass_deadlines(env, sqlite_engine, cases)

    # 16:00 on the last working day before a daylight-saving switch (in spring 2027
    # that is Maundy Thursday, with Good Friday and Easter Monday closed around it).
    switch = next_dst_switch(await env.get_current_time(), BERLIN)
    before = last_open_day_before(hours, switch)
    cases = await open_at(env, client, task_queue, hours.at(before, 16), gold_and_enterprise)
    assert_due_instants(cases, hours)
    expected = hours.at(hours.next_open_day(before), 16)
    assert expected.utcoffset() != hours.at(before, 16).utcoffset()
    for plan_id in ("gold", "enterprise"):
        case = first(cases, plan_id, "sev1")
        case.assert_wall_time(case.due_local(ClockName.first_response), expected)
    await pass_deadlines(env, sqlite_engine, cases)


@pytest.mark.parametrize("catalog_id", ["worldscape", "vidizmo"])
async def test_seeds_without_targets_never_fall_due(
    catalog_id: str,
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    env = time_skipping_env
    catalog = load_catalogs()[catalog_id]
    assert plans_with_targets(catalog_id) == []
    refs = [(f"{catalog_id}:{p.id}", s.id) for p in catalog.plans for s in catalog.severities]
    cases = await open_at(env, client, task_queue, await env.get_current_time(), refs)
    assert assert_due_instants(cases, None) == 0
    for case in cases:
        assert case.view.next_due_at is None
        assert all(c.due_at is None and c.remaining_seconds is None for c in case.view.clocks)

    await skip_to(env, await env.get_current_time() + timedelta(days=60))
    for case in cases:
        view = await case.handle.query(CaseWorkflow.view)
        assert not view.breached
        assert not any(c.warned or c.breached for c in view.clocks)
        assert view.escalation_level == 0
        kinds = {e.kind for e in recorded(sqlite_engine, case.number)}
        assert not kinds & {"clock_warned", "clock_breached", "management_escalated"}
