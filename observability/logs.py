"""How Tierline's processes log (to be completed: LOG_FORMAT=json)."""

from __future__ import annotations

import logging

from settings import Settings


def configure(settings: Settings, service: str) -> None:
    """Set up the process's logging once: `service` names the process (api, worker,
    mail-gateway)."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
