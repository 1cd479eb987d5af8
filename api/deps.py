"""Typed dependencies shared by the routes.

Those that only read the application's state are `async def`: FastAPI runs a plain
`def` dependency on its thread pool, a thread hop per dependency and request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.limits import KeyedLimiter
from policies.format import Catalog
from settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_catalogs(request: Request) -> dict[str, Catalog]:
    catalogs: dict[str, Catalog] = request.app.state.catalogs
    return catalogs


async def get_limiter(request: Request) -> KeyedLimiter:
    limiter: KeyedLimiter = request.app.state.limiter
    return limiter


# Ids are INTEGER columns: 32-bit on PostgreSQL.
MAX_ID = 2**31 - 1
CaseNumber = Annotated[int, Path(ge=1, le=MAX_ID, description="The case number")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip")]

SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
CatalogsDep = Annotated[dict[str, Catalog], Depends(get_catalogs)]
LimiterDep = Annotated[KeyedLimiter, Depends(get_limiter)]
