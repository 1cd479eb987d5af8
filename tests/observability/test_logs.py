"""Logs: readable lines by default, one JSON object a line with LOG_FORMAT=json; records
carry the case, workflow, update and trace they belong to, from the API's bindings, from
the Temporal SDK's own records (a real worker on the time-skipping server) and from the
current span; secrets are redacted. And the API entry (`uvicorn api.app:app`) with
LOG_FORMAT=json writes nothing on standard error but JSON lines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.auth import new_token
from models.case import CaseRouting, case_workflow_id
from observability import logs, tracing
from settings import ROOT, Settings
from tests.builders import open_case
from tests.conftest import free_port, running
from tests.workflows.case_harness import start, terminate_started
from worker import build_worker

T = TypeVar("T")
JsonLines = Callable[[], list[dict[str, Any]]]
# Variables that configure Tierline: the caller's are not passed to the API under test.
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """What `check` returns once it is true."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def answers(http: httpx.AsyncClient, process: asyncio.subprocess.Process) -> bool:
    """Whether the API process answers /health yet."""
    try:
        return (await http.get("/health")).status_code == 200
    except httpx.TransportError:
        assert process.returncode is None, "the API exited"
        return False


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures logging its own way; the root and uvicorn's loggers are put
    back as they were afterwards."""
    names = ["", *logs.UVICORN_LOGGERS, *logs.QUIETER]
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate)
        for name in names
        for lg in [logging.getLogger(name or None)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name or None)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def json_lines(capsys: pytest.CaptureFixture[str]) -> JsonLines:
    """Logging configured for JSON; a function that returns every line written to standard
    error so far, each parsed (a line that is not JSON fails the test)."""
    logs.configure(Settings(log_format="json", log_level="INFO"), "worker")
    seen: list[dict[str, Any]] = []

    def lines() -> list[dict[str, Any]]:
        seen.extend(json.loads(line) for line in capsys.readouterr().err.splitlines())
        return seen

    return lines


def test_json_mode_writes_one_object_a_line_with_the_fields(json_lines: JsonLines) -> None:
    log = logging.getLogger("tierline.test")
    log.info("case %d opened", 7, extra={"body": "the customer's message"})
    try:
        raise ValueError("no such plan")
    except ValueError:
        log.exception("could not open")

    opened, failed = json_lines()
    assert list(opened) == ["timestamp", "level", "logger", "message", "service"]
    assert opened["level"] == "INFO" and opened["logger"] == "tierline.test"
    assert opened["message"] == "case 7 opened" and opened["service"] == "worker"
    stamp = datetime.fromisoformat(opened["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert failed["level"] == "ERROR"
    assert failed["exc_info"].startswith("Traceback (most recent call last):")
    assert failed["exc_info"].endswith("ValueError: no such plan")


def test_text_mode_stays_readable(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(Settings(log_format="text", log_level="INFO"), "api")
    with logs.bind(case_number=7):
        logging.getLogger("tierline.test").warning("case 7: nothing to say")
    [line] = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} tierline\.test case 7: nothing to say", line
    )


def test_configuring_again_replaces_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(Settings(log_format="text", log_level="INFO"), "api")
    logs.configure(Settings(log_format="json", log_level="INFO"), "api")
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logs.StderrHandler)]
    assert len(ours) == 1
    logging.getLogger("tierline.test").warning("once")
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == "once"


def test_json_mode_sends_uvicorns_loggers_through_the_root(json_lines: JsonLines) -> None:
    import uvicorn

    # What `uvicorn api.app:app` does before it imports the app: handlers of its own.
    uvicorn.Config("api.app:app").configure_logging()
    logs.configure(Settings(log_format="json", log_level="INFO"), "api")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/health", "1.1", 200
    )
    [line] = json_lines()
    assert line["logger"] == "uvicorn.access" and line["service"] == "api"
    assert line["message"] == '127.0.0.1:5000 - "GET /health HTTP/1.1" 200'


async def test_bound_context_reaches_records_and_tasks(json_lines: JsonLines) -> None:
    log = logging.getLogger("tierline.api")
    with logs.bind(workflow_id=case_workflow_id(12)):
        with logs.bind(update_id="respond:bob:key-1"):
            log.info("updating")
        log.info("done")

    async def request() -> None:
        logs.tag(case_number=13)
        await asyncio.sleep(0)
        log.info("in a request")

    await asyncio.create_task(request())
    log.info("outside")

    updating, done, in_request, outside = json_lines()
    assert (updating["case_number"], updating["workflow_id"]) == (12, "case-12")
    assert updating["update_id"] == "respond:bob:key-1"
    assert (done["case_number"], done["workflow_id"]) == (12, "case-12")
    assert "update_id" not in done
    assert in_request["case_number"] == 13 and "workflow_id" not in in_request
    assert not set(logs.CONTEXT_FIELDS) & set(outside)


def test_a_records_own_fields_win_over_bound_ones(json_lines: JsonLines) -> None:
    with logs.bind(case_number=1, workflow_id="case-1"):
        logging.getLogger("tierline.test").info(
            "other", extra={"case_number": 2, "workflow_id": "case-2"}
        )
    [line] = json_lines()
    assert (line["case_number"], line["workflow_id"]) == (2, "case-2")


def test_the_trace_id_is_the_current_spans(json_lines: JsonLines) -> None:
    tracer = tracing.use_exporter(InMemorySpanExporter(), "tierline-test").get_tracer("test")
    try:
        with tracer.start_as_current_span("request") as span:
            logging.getLogger("tierline.test").info("traced")
        logging.getLogger("tierline.test").info("untraced")
    finally:
        tracing.turn_off()
    traced, untraced = json_lines()
    assert traced["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert re.fullmatch(r"[0-9a-f]{32}", traced["trace_id"])
    assert "trace_id" not in untraced


def test_secrets_are_redacted(json_lines: JsonLines) -> None:
    token = new_token()
    log = logging.getLogger("tierline.test")
    log.warning("refused Authorization: Bearer %s", token)
    log.warning("sign-in with username=ann&password=hunter2 failed")
    log.warning("settings %s", {"smtp_password": "s3cret", "smtp_port": 25})
    log.info('"GET /console/welcome?token=%s&next=/ HTTP/1.1" 200', "link-secret")
    log.info("Cookie: tierline_session=cookie-secret; tierline_csrf=x")
    log.info("token %s given out", token)
    try:
        raise RuntimeError(f"upstream said no to Bearer {token}")
    except RuntimeError:
        log.exception("call failed")

    lines = json_lines()
    messages = [line["message"] for line in lines]
    assert messages == [
        "refused Authorization: Bearer [redacted]",
        "sign-in with username=ann&password=[redacted] failed",
        "settings {'smtp_password': '[redacted]', 'smtp_port': 25}",
        '"GET /console/welcome?token=[redacted]&next=/ HTTP/1.1" 200',
        "Cookie: [redacted]",
        "token [redacted] given out",
        "call failed",
    ]
    assert lines[-1]["exc_info"].endswith("RuntimeError: upstream said no to Bearer [redacted]")
    text = json.dumps(lines)
    for secret in (token, "hunter2", "s3cret", "link-secret", "cookie-secret"):
        assert secret not in text


def test_outbound_request_urls_are_not_logged(json_lines: JsonLines) -> None:
    # A webhook's URL is often all the credential it has.
    logging.getLogger("httpx").info('HTTP Request: POST https://hooks.example/T1/B2/XYZ "200"')
    logging.getLogger("httpx").warning("something wrong")
    assert [line["message"] for line in json_lines()] == ["something wrong"]


def test_text_mode_redacts_too(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(Settings(log_format="text", log_level="INFO"), "api")
    try:
        raise RuntimeError("password=hunter2")
    except RuntimeError:
        logging.getLogger("tierline.test").exception("Bearer abc.def")
    err = capsys.readouterr().err
    assert "Bearer [redacted]" in err and "password=[redacted]" in err
    assert "hunter2" not in err and "abc.def" not in err


async def test_an_activity_warning_names_its_case(
    json_lines: JsonLines,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> None:
    # Nothing listens on this port: the acknowledgement's delivery fails and the
    # activity says so in one warning (activities/notify.py).
    settings = Settings(smtp_port=free_port(), webhook_secret="logs-test")
    client = time_skipping_env.client
    worker = build_worker(client, sqlite_engine, task_queue, activity_executor, settings)
    async with running(worker):
        try:
            routing = CaseRouting(customer_emails=("ann@acme.example",))
            now = await time_skipping_env.get_current_time()
            command = open_case(4711, "eu-software-001:gold", now, routing, severity="sev1")
            await start(client, command, task_queue)

            async def warned() -> dict[str, Any] | None:
                return next((line for line in json_lines() if not_delivered(line)), None)

            warning = await eventually(warned)
        finally:
            await terminate_started()
    assert warning["level"] == "WARNING"
    assert (warning["workflow_id"], warning["case_number"]) == ("case-4711", 4711)
    assert warning["service"] == "worker"


def not_delivered(line: dict[str, Any]) -> bool:
    return line["logger"] == "temporalio.activity" and "not delivered" in line["message"]


@workflow.defn(sandboxed=False)
class Chatty:
    """Logs from an update handler, then completes. Update: `say`."""

    def __init__(self) -> None:
        self.said = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.said)

    @workflow.update
    async def say(self, words: str) -> None:
        workflow.logger.info("said %s", words)
        self.said = True


async def test_a_workflow_record_names_its_case_and_update(
    json_lines: JsonLines, time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[Chatty],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with running(worker):
        handle = await client.start_workflow(
            Chatty.run, id=case_workflow_id(4712), task_queue=task_queue
        )
        await handle.execute_update(Chatty.say, "password: hunter2", id="respond:bob:key-9")
        await handle.result()
    [said] = [line for line in json_lines() if line["logger"] == "temporalio.workflow"]
    assert said["message"].startswith("said password: [redacted] (")
    assert (said["workflow_id"], said["case_number"]) == ("case-4712", 4712)
    assert said["update_id"] == "respond:bob:key-9"


async def test_the_api_entry_writes_only_json_lines(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "var").mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_VARIABLES},
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
        "VAR_DIR": str(tmp_path / "var"),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WEBHOOK_SECRET": "logs-test",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:app",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await eventually(lambda: answers(http, process), within=60)
            await http.get("/console/welcome", params={"token": "link-secret"})
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)

    assert stdout == b""
    lines = [json.loads(line) for line in stderr.decode().splitlines()]
    assert {line["service"] for line in lines} == {"api"}
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers
    accesses = [line["message"] for line in lines if line["logger"] == "uvicorn.access"]
    assert any('"GET /health HTTP/1.1" 200' in message for message in accesses)
    assert any("token=[redacted]" in message for message in accesses)
    assert b"link-secret" not in stderr
