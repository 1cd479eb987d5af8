"""A Tierline worker in a process of its own, for tests that kill it with SIGKILL.

Configured like the real worker, by environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_TASK_QUEUE, DATABASE_URL, SMTP_PORT, WEBHOOK_SECRET); prints READY once
the worker is built and about to poll. Run: `python -m tests.workflows.worker_process`.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from db.read_model import make_engine
from runtime import connect, pin_time_zone_data
from settings import Settings
from worker import build_worker

READY = "READY"


async def main() -> None:
    pin_time_zone_data()
    settings = Settings()
    engine = make_engine(settings.effective_database_url)
    client = await connect(settings)
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(client, engine, settings.temporal_task_queue, executor, settings)
        print(READY, flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
