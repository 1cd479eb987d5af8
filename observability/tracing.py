"""OpenTelemetry traces (to be completed): off unless OTLP_ENDPOINT is set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def configure(settings: Settings, service: str) -> None:
    """Set up the process's tracer provider once: `service` names the process."""


def instrument_app(app: FastAPI, settings: Settings) -> None:
    """Trace the API's requests."""


def client_interceptors(settings: Settings) -> list[Any]:
    """The Temporal client's interceptors (a worker made from the client uses them too)."""
    return []
