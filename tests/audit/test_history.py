"""Reading a case's Temporal histories: every run across continue-as-new, the
projections, the opening command and every recorded command."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from audit.history import (
    UPDATE_COMMANDS,
    UPDATES_WITHOUT_COMMAND,
    CaseNotFound,
    case_histories,
    case_start,
    commands,
    histories_from_json,
    histories_to_json,
    projections,
    run_id,
)
from audit.timeline import timeline
from models.case import Actor, CaseStatus, Role
from models.commands import AddInternalNote, EscalateTier, RequestInformation, RespondPublicly
from models.registry import COMMANDS
from models.release import LinkRelease, ReleaseKind, ReleaseNews
from settings import Settings
from tests.audit.conftest import RecordedCase, stored
from tests.builders import AGENT, open_case
from tests.conftest import VENV_BIN
from tests.workflows.case_harness import start, terminate_started, view_when
from worker import build_worker
from workflows.case import CaseWorkflow, execute_command
from workflows.search_attributes import ALL_KEYS

RELEASE_MANAGER = Actor(id="rita", role=Role.release_manager)


def test_every_update_with_a_command_is_known() -> None:
    """The workflow declares `opened` itself and registers one update per registry entry
    when it starts; the audit code decodes each recorded update by the same registry."""
    definition = workflow._Definition.must_from_class(CaseWorkflow)
    assert set(definition.updates) == UPDATES_WITHOUT_COMMAND
    assert UPDATE_COMMANDS == {spec.update: spec.command for spec in COMMANDS}
    assert set(definition.signals) == {"release_news"}


def test_projections_carry_every_event_once_in_order() -> None:
    for name in ("responded-resolved-closed", "local-projection/responded-resolved-closed"):
        (history,) = stored(name)
        recorded = projections(history)
        seqs = [event.seq for r in recorded for event in r.projected.events]
        assert seqs == list(range(1, len(seqs) + 1)), name
        assert all(r.run_id == run_id(history) for r in recorded)
        assert [r.event_id for r in recorded] == sorted(r.event_id for r in recorded)
        assert recorded[-1].projected.view.status is CaseStatus.closed


def test_the_opening_command_and_its_frozen_plan() -> None:
    first, second = stored("continued-as-new-1", "continued-as-new-2")
    opening = case_start([first, second])
    assert opening.number == 111
    assert opening.plan.source.catalog_id == "us-software-002"
    assert opening.plan.plan_id == "enterprise"
    with pytest.raises(ValueError, match="continues an earlier one"):
        case_start([second])


def test_commands_are_the_accepted_updates_at_the_time_they_took_effect() -> None:
    histories = stored("waited-on-customer")
    found = commands(histories)
    assert [c.name for c in found] == [
        "request_information",
        "customer_reply",
        "escalate_tier",
        "resolve",
        "confirm",
    ]
    assert isinstance(found[0].command, RequestInformation)
    assert isinstance(found[2].command, EscalateTier) and found[2].command.tier == 3
    assert [c.actor.role.value for c in found] == [
        "agent",
        "customer",
        "agent",
        "agent",
        "customer",
    ]
    # Each command took effect at the instant its facts were recorded.
    kinds = {
        "request_information": "information_requested",
        "customer_reply": "customer_replied",
        "escalate_tier": "tier_escalated",
        "resolve": "resolved",
        "confirm": "confirmed",
    }
    entries = timeline(histories).entries
    for command in found:
        assert any(e.kind == kinds[command.name] and e.at == command.at for e in entries)
    dumped = found[2].model_dump(mode="json")
    assert dumped["command"]["tier"] == 3 and dumped["actor"]["id"] == AGENT.id


def test_histories_round_trip_through_json() -> None:
    runs = stored("continued-as-new-1", "continued-as-new-2")
    text = histories_to_json(runs)
    back = histories_from_json(text)
    assert [h.workflow_id for h in back] == [h.workflow_id for h in runs]
    assert [h.events for h in back] == [h.events for h in runs]
    assert histories_to_json(back) == text


async def test_a_case_has_its_runs_and_an_unknown_case_is_not_found(
    recorded_case: RecordedCase, time_skipping_env: WorkflowEnvironment
) -> None:
    histories = await case_histories(time_skipping_env.client, recorded_case.number)
    assert len(histories) == 1
    last = histories[0].events[-1].event_type
    assert last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    with pytest.raises(CaseNotFound):
        await case_histories(time_skipping_env.client, 999_999)


@pytest.fixture
async def release_client(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> AsyncIterator[Client]:
    client = time_skipping_env.client
    async with build_worker(client, sqlite_engine, task_queue, activity_executor, Settings()):
        yield client
        await terminate_started()


async def test_a_release_signal_is_a_command_at_the_task_that_handled_it(
    release_client: Client, time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    handle = await start(
        release_client, open_case(7101, "short-sla:fast", now, severity="normal"), task_queue
    )
    await execute_command(handle, EscalateTier(actor=AGENT, tier=3, reason="Code change."))
    await execute_command(handle, LinkRelease(actor=RELEASE_MANAGER, version="4.2.2"))
    news = ReleaseNews(
        version="4.2.2", kind=ReleaseKind.hotfix, event="shipped", actor=RELEASE_MANAGER
    )
    await handle.signal(CaseWorkflow.release_news, news)
    await view_when(handle, lambda v: v.status is CaseStatus.resolved)
    histories = await case_histories(release_client, 7101)
    found = commands(histories)
    assert [c.name for c in found] == ["escalate_tier", "link_release", "release_news"]
    signal = found[-1]
    assert signal.kind == "signal" and signal.command == news
    assert signal.actor == RELEASE_MANAGER
    shipped = next(e for e in timeline(histories).entries if e.kind == "release_shipped")
    assert shipped.at == signal.at


@pytest.fixture(scope="module")
async def rolling_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that suggests continue-as-new after 60 history events."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=60",
        ],
    )
    yield env
    await env.shutdown()


async def test_every_run_across_continue_as_new_oldest_first(
    rolling_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    activity_executor: ThreadPoolExecutor,
) -> None:
    client = rolling_env.client
    queue = f"audit-{uuid.uuid4()}"
    async with build_worker(client, sqlite_engine, queue, activity_executor, Settings()):
        now = await rolling_env.get_current_time()
        command = open_case(7201, "us-software-002:enterprise", now, severity="high")
        started = await start(client, command, queue)
        handle = client.get_workflow_handle(started.id)
        notes = 0
        while len(await case_histories(client, 7201)) < 3:
            await execute_command(handle, AddInternalNote(actor=AGENT, note=f"Note {notes}."))
            notes += 1
        await execute_command(handle, RespondPublicly(actor=AGENT, message="On it."))
        histories = await case_histories(client, 7201)
        await handle.terminate("test finished")
    assert len(histories) >= 3
    runs = [run_id(history) for history in histories]
    assert runs[0] == started.first_execution_run_id
    assert len(set(runs)) == len(runs)
    for history in histories[:-1]:
        last = history.events[-1].event_type
        assert last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    line = timeline(histories)
    assert line.continuous, line.problems
    assert [e.kind for e in line.entries].count("note_added") == notes
    assert line.entries[-1].kind in ("responded", "clock_started")
    assert [c.name for c in commands(histories)].count("add_note") == notes
