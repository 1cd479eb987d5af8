"""An API process killed in the middle of a burst of keyed actions: the retries of the same
keys, sent at once to the restarted API, are all answered, and each action happened once.

The API runs as a child process (uvicorn, as `make run` starts it) so it can be SIGKILLed;
the worker runs in the test. SQLite and PostgreSQL read models.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from temporalio.client import Client

from db.read_model import CaseEventRecord, IdempotentRequest
from tests.builders import case_body
from tests.conftest import free_port, running
from worker import build_worker

ROOT = Path(__file__).resolve().parents[2]
CASES = 10
NOTES_PER_CASE = 5  # 50 keyed notes in one burst
# When the API is killed: once 20 of the burst's requests hold their key (early: no
# note has reached Temporal yet), or once 10 notes are recorded (late: the rest are on
# their way through Temporal, which finishes them with the API gone).
KILL_POINTS = {"early": ("claims", 20), "late": ("notes", 10)}
# A plan without an incident quota, so ten cases open.
ACME = {"id": "acme", "name": "Acme Corp", "plan": "us-software-002:enterprise"}


@dataclass
class ApiProcess:
    env: dict[str, str]
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            cwd=ROOT,
            env=self.env,
        )
        async with httpx.AsyncClient(base_url=self.base_url) as client, asyncio.timeout(60):
            while True:
                assert self.process.returncode is None, "the API exited while starting"
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(15):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.fixture
async def api_process(
    dev_client: Client,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    catalog_dir: Path,
    tmp_path: Path,
) -> AsyncIterator[ApiProcess]:
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path / "var"),
        "CATALOG_DIR": str(catalog_dir),
        "TEMPORAL_ADDRESS": dev_client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_client.namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATABASE_URL": read_model.url.render_as_string(hide_password=False),
        "WEBHOOK_SECRET": "crash-test-secret",
    }
    api = ApiProcess(env, free_port())
    worker = build_worker(dev_client, read_model, task_queue, activity_executor)
    async with running(worker):
        try:
            await api.start()
            yield api
        finally:
            await api.stop()


def counted(engine: Engine, what: str) -> int:
    query = select(func.count())
    if what == "claims":
        query = query.select_from(IdempotentRequest)
    else:
        query = query.select_from(CaseEventRecord).where(
            CaseEventRecord.kind == "note_added"  # type: ignore[arg-type]
        )
    with Session(engine) as session:
        return session.execute(query).scalar_one()


@pytest.mark.parametrize("kill_point", sorted(KILL_POINTS))
async def test_retries_after_an_api_crash_are_answered_and_act_once(
    api_process: ApiProcess, read_model: Engine, tmp_path: Path, kill_point: str
) -> None:
    what, threshold = KILL_POINTS[kill_point]
    admin_token = (tmp_path / "var" / "admin-token").read_text().strip()
    admin = httpx.AsyncClient(
        base_url=api_process.base_url, headers={"Authorization": f"Bearer {admin_token}"}
    )
    async with admin:
        assert (await admin.post("/organisations", json=ACME)).status_code == 201
        user = {"id": "bob", "name": "Bob", "role": "agent", "tiers": [1, 2, 3]}
        assert (await admin.post("/users", json=user)).status_code == 201
        token = (await admin.post("/users/bob/tokens", json={})).json()["token"]
        numbers = []
        for _ in range(CASES):
            opened = await admin.post("/cases", json=case_body(severity="high"))
            assert opened.status_code == 201, opened.text
            numbers.append(opened.json()["number"])

    burst = [(number, f"note-{number}-{n}") for number in numbers for n in range(NOTES_PER_CASE)]
    bob = httpx.AsyncClient(
        base_url=api_process.base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )

    async def note(number: int, key: str) -> int | str:
        try:
            response = await bob.post(
                f"/cases/{number}/notes", json={"note": key}, headers={"Idempotency-Key": key}
            )
        except httpx.TransportError as err:
            return type(err).__name__
        return response.status_code

    async with bob:
        first = [asyncio.create_task(note(number, key)) for number, key in burst]
        async with asyncio.timeout(60):
            # Polls the database, which has no event to wait on.
            while counted(read_model, what) < threshold:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        api_process.kill()
        before = Counter(await asyncio.gather(*first))
        assert sum(n for status, n in before.items() if status != 200) > 0, before

        await api_process.start()

        async def notes() -> Counter[str]:
            seen: Counter[str] = Counter()
            for number in numbers:
                timeline = (await bob.get(f"/cases/{number}/timeline")).json()
                seen.update(e["reason"] for e in timeline if e["kind"] == "note_added")
            return seen

        done_before_retries = sum((await notes()).values())
        after = Counter(await asyncio.gather(*(note(number, key) for number, key in burst)))
        assert after == {200: len(burst)}, after
        # Every note once: none lost, none twice.
        assert await notes() == Counter(key for _, key in burst)
    print(
        f"crash mid-burst ({kill_point}): answers before the kill {dict(before)}, notes "
        f"recorded before the retries {done_before_retries}, retries {dict(after)}"
    )
