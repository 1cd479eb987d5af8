"""Record the case histories that the replay gate (tests/workflows/test_replay.py) replays.

Each scenario drives one case through the real worker and writes its Temporal history
as `<scenario>.json` (the `temporal workflow show -o json` format) next to this file.
SLA scenarios run on the time-skipping server; the continue-as-new one runs on a dev
server that suggests a rollover after 60 events and writes one file per run.

Existing files are kept: they are what older workflow code recorded, and the gate
exists to prove new code still replays them. The files directly in this directory
were recorded before the `projection-local-activity` patch; each later generation of
the workflow gets a directory of its own (`local-projection/`: projection as a local
activity; `kept-timer/`: a change that leaves the next deadline alone keeps its
timer). Add scenarios when the workflow learns something new; overwrite only on purpose:

    .venv/bin/python -m tests.histories.record                          # missing scenarios
    .venv/bin/python -m tests.histories.record --into kept-timer        # a generation
    .venv/bin/python -m tests.histories.record --force                  # re-record all
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from db.read_model import create_schema, make_engine
from models.case import CaseRouting, CaseView, OpenCase, case_workflow_id
from models.commands import (
    AddInternalNote,
    AssignCase,
    ChangeSeverity,
    CloseCase,
    CloseOutOfScope,
    ConfirmResolution,
    CustomerReply,
    EscalateTier,
    ReopenCase,
    RequestInformation,
    RequestManagementEscalation,
    ResolveCase,
    RespondPublicly,
)
from runtime import pin_time_zone_data
from settings import Settings
from tests.builders import AGENT, CUSTOMER, open_case
from tests.conftest import VENV_BIN, Inbox, free_port, register_search_attributes
from worker import build_worker
from workflows.case import CaseStart, CaseWorkflow, execute_command
from workflows.search_attributes import ALL_KEYS

HERE = Path(__file__).parent
BERLIN = ZoneInfo("Europe/Berlin")
ROUTING = CaseRouting(
    customer_emails=("ann@acme.example",),
    agents_email="support@vendor.example",
    escalation_contacts={1: "lead@vendor.example", 2: "manager@vendor.example"},
    dedicated_engineer="dse@vendor.example",
)

CaseHandle = WorkflowHandle[CaseWorkflow, CaseView]


async def start(client: Client, command: OpenCase, task_queue: str) -> CaseHandle:
    handle = await client.start_workflow(
        CaseWorkflow.run,
        CaseStart(open=command),
        id=case_workflow_id(command.number),
        task_queue=task_queue,
    )
    await handle.execute_update(CaseWorkflow.opened)
    return handle


async def settled_history(handle: CaseHandle) -> WorkflowHistory:
    """The history once the run is closed, or no workflow task or activity is in flight."""
    finished = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    }
    closed = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
    async with asyncio.timeout(30):
        while True:
            history = await handle.fetch_history()
            types = [event.event_type for event in history.events]
            scheduled = types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
            done = sum(types.count(kind) for kind in finished)
            idle = types[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            if types[-1] in closed or (idle and scheduled == done):
                return history
            await asyncio.sleep(0.1)


async def skip(env: WorkflowEnvironment, delta: timedelta) -> None:
    await env.sleep(delta)


# Scenarios on the time-skipping server: (env, client, task queue) -> finished handle.
Scenario = Callable[[WorkflowEnvironment, Client, str], Awaitable[CaseHandle]]


async def opened(env: WorkflowEnvironment, client: Client, queue: str) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(101, "short-sla:fast", now, routing=ROUTING, severity="critical")
    return await start(client, command, queue)


async def responded_resolved_closed(
    env: WorkflowEnvironment, client: Client, queue: str
) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(102, "short-sla:fast", now, routing=ROUTING, severity="normal")
    handle = await start(client, command, queue)
    await execute_command(handle, AssignCase(actor=AGENT, assignee="bob"))
    await execute_command(handle, RespondPublicly(actor=AGENT, message="Looking into it."))
    await execute_command(handle, AddInternalNote(actor=AGENT, note="Reproduced on 4.2."))
    await execute_command(handle, ResolveCase(actor=AGENT, summary="Fixed."))
    await execute_command(handle, CloseCase(actor=AGENT, reason="Confirmed."))
    await handle.result()  # the reopen window passes in virtual time
    return handle


async def waited_on_customer(env: WorkflowEnvironment, client: Client, queue: str) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(103, "short-sla:fast", now, routing=ROUTING, severity="normal")
    handle = await start(client, command, queue)
    await execute_command(
        handle,
        RequestInformation(actor=AGENT, message="Which version do you run?"),
    )
    await skip(env, timedelta(hours=5))
    await execute_command(handle, CustomerReply(actor=CUSTOMER, message="4.2.1"))
    await execute_command(
        handle,
        EscalateTier(actor=AGENT, tier=3, reason="Needs a code change."),
    )
    await execute_command(handle, ResolveCase(actor=AGENT, summary="Patched in 4.2.2."))
    await execute_command(handle, ConfirmResolution(actor=CUSTOMER))
    await handle.result()
    return handle


async def breached_escalated(env: WorkflowEnvironment, client: Client, queue: str) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(104, "short-sla:fast", now, routing=ROUTING, severity="critical")
    handle = await start(client, command, queue)
    await skip(env, timedelta(minutes=11))  # first response missed: team lead
    await execute_command(
        handle,
        RequestManagementEscalation(actor=CUSTOMER, reason="Production is down."),
    )
    await skip(env, timedelta(minutes=20))  # periodic update missed: executive
    await execute_command(
        handle,
        ChangeSeverity(actor=AGENT, severity="normal", reason="A workaround exists."),
    )
    await execute_command(
        handle,
        ResolveCase(actor=AGENT, summary="Restarted the queue.", root_cause_analysis="Disk full."),
    )
    await execute_command(handle, ConfirmResolution(actor=CUSTOMER))
    await handle.result()
    return handle


async def tier1_target_moved(env: WorkflowEnvironment, client: Client, queue: str) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(105, "short-sla:fast", now, routing=ROUTING, severity="normal")
    handle = await start(client, command, queue)
    await skip(env, timedelta(minutes=61))
    return handle


async def closed_out_of_scope(env: WorkflowEnvironment, client: Client, queue: str) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(106, "short-sla:fast", now, routing=ROUTING, severity="normal")
    handle = await start(client, command, queue)
    await execute_command(
        handle,
        CloseOutOfScope(actor=AGENT, exclusion="third-party", reason="Their proxy drops it."),
    )
    await handle.result()
    return handle


async def reopened(env: WorkflowEnvironment, client: Client, queue: str) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(107, "short-sla:fast", now, routing=ROUTING, severity="normal")
    handle = await start(client, command, queue)
    await execute_command(handle, ResolveCase(actor=AGENT, summary="Cache."))
    await execute_command(handle, ConfirmResolution(actor=CUSTOMER))
    await skip(env, timedelta(minutes=30))
    await execute_command(handle, ReopenCase(actor=CUSTOMER, reason="It came back."))
    await execute_command(handle, ResolveCase(actor=AGENT, summary="Config."))
    await execute_command(handle, CloseCase(actor=AGENT, reason="Quiet a day."))
    await handle.result()
    return handle


async def refused(env: WorkflowEnvironment, client: Client, queue: str) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(108, "short-sla:fast", now, routing=ROUTING, severity="cosmic")
    handle = await client.start_workflow(
        CaseWorkflow.run,
        CaseStart(open=command),
        id=case_workflow_id(command.number),
        task_queue=queue,
    )
    try:
        await handle.result()
    except WorkflowFailureError:
        return handle
    raise AssertionError("a case with an unknown severity opened")


async def us_software_002_enterprise_breached(
    env: WorkflowEnvironment, client: Client, queue: str
) -> CaseHandle:
    now = await env.get_current_time()
    command = open_case(109, "us-software-002:enterprise", now, routing=ROUTING, severity="high")
    handle = await start(client, command, queue)
    await skip(env, timedelta(minutes=31))  # 30 minutes, 24x7: team lead
    await execute_command(handle, RespondPublicly(actor=AGENT, message="Sorry for the wait."))
    await execute_command(handle, ResolveCase(actor=AGENT, summary="Done."))
    await execute_command(handle, CloseCase(actor=AGENT, reason="Done."))
    await handle.result()  # no reopen window: the case completes at once
    return handle


async def eu_software_001_gold_weekend(
    env: WorkflowEnvironment, client: Client, queue: str
) -> CaseHandle:
    now = (await env.get_current_time()).astimezone(BERLIN)
    day = now.date() + timedelta(days=(4 - now.weekday()) % 7 or 7)
    friday = datetime(day.year, day.month, day.day, 16, tzinfo=BERLIN)
    await skip(env, friday - await env.get_current_time())
    command = open_case(110, "eu-software-001:gold", friday, routing=ROUTING, severity="sev2")
    handle = await start(client, command, queue)
    await skip(env, timedelta(days=5))  # 8 business hours pass over the weekend
    await execute_command(handle, RespondPublicly(actor=AGENT, message="Back on Monday."))
    await execute_command(handle, ResolveCase(actor=AGENT, summary="Done."))
    await execute_command(handle, CloseCase(actor=AGENT, reason="Done."))
    await handle.result()
    return handle


SCENARIOS: dict[str, Scenario] = {
    "opened": opened,
    "responded-resolved-closed": responded_resolved_closed,
    "waited-on-customer": waited_on_customer,
    "breached-escalated": breached_escalated,
    "tier1-target-moved": tier1_target_moved,
    "closed-out-of-scope": closed_out_of_scope,
    "reopened": reopened,
    "refused": refused,
    "us-software-002-enterprise-breached": us_software_002_enterprise_breached,
    "eu-software-001-gold-weekend": eu_software_001_gold_weekend,
}
CONTINUED_AS_NEW = "continued-as-new"


# Where this run writes; `--into` picks a generation directory (see the docstring).
OUT = [HERE]


def write(name: str, history: WorkflowHistory) -> None:
    OUT[0].mkdir(parents=True, exist_ok=True)
    (OUT[0] / f"{name}.json").write_text(history.to_json() + "\n")
    print(f"recorded {name}: {len(history.events)} events")


async def record_time_skipping(
    names: list[str], settings: Settings, executor: ThreadPoolExecutor, database: Path
) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        engine = make_engine(f"sqlite:///{database}")
        create_schema(engine)
        queue = f"record-{uuid.uuid4()}"
        async with build_worker(env.client, engine, queue, executor, settings):
            for name in names:
                handle = await SCENARIOS[name](env, env.client, queue)
                write(name, await settled_history(handle))
                with contextlib.suppress(RPCError):  # ends those still running
                    await handle.terminate("recorded")
    finally:
        await env.shutdown()


async def record_continued_as_new(
    settings: Settings, executor: ThreadPoolExecutor, database: Path
) -> None:
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
    try:
        client = env.client
        engine = make_engine(f"sqlite:///{database}")
        create_schema(engine)
        queue = f"record-{uuid.uuid4()}"
        async with build_worker(client, engine, queue, executor, settings):
            now = await env.get_current_time()
            command = open_case(
                111, "us-software-002:enterprise", now, routing=ROUTING, severity="high"
            )
            started = await start(client, command, queue)
            handle: CaseHandle = client.get_workflow_handle_for(CaseWorkflow.run, started.id)
            # The first response is still running when the case rolls over.
            notes = 0
            while (await handle.describe()).run_id == started.first_execution_run_id:
                await execute_command(handle, AddInternalNote(actor=AGENT, note=f"Note {notes}."))
                notes += 1
            await execute_command(handle, RespondPublicly(actor=AGENT, message="On it."))
            await execute_command(handle, ResolveCase(actor=AGENT, summary="Done."))
            await execute_command(handle, CloseCase(actor=AGENT, reason="Done."))
            await handle.result()  # no reopen window: the second run completes
            first = client.get_workflow_handle(started.id, run_id=started.first_execution_run_id)
            write(f"{CONTINUED_AS_NEW}-1", await first.fetch_history())
            write(f"{CONTINUED_AS_NEW}-2", await handle.fetch_history())
    finally:
        await env.shutdown()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-record existing histories")
    parser.add_argument(
        "--into", metavar="DIR", help="generation directory under tests/histories to write to"
    )
    args = parser.parse_args()
    if args.into:
        OUT[0] = HERE / args.into
    pin_time_zone_data()

    def wanted(name: str) -> bool:
        return args.force or not (OUT[0] / f"{name}.json").exists()

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = Settings(smtp_port=smtp.port, webhook_secret="recording")
    try:
        with (
            ThreadPoolExecutor(max_workers=8) as executor,
            tempfile.TemporaryDirectory() as scratch,
        ):
            names = [name for name in SCENARIOS if wanted(name)]
            if names:
                await record_time_skipping(names, settings, executor, Path(scratch) / "a.db")
            if wanted(f"{CONTINUED_AS_NEW}-1"):
                await record_continued_as_new(settings, executor, Path(scratch) / "b.db")
    finally:
        smtp.stop()


if __name__ == "__main__":
    asyncio.run(main())
