"""The FastAPI application: a thin layer over the case workflows and the read model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api import errors
from api.asgi import BodyLimitMiddleware
from api.auth import bootstrap_admin
from api.idempotency import IdempotencyMiddleware
from api.instances import registered
from api.limits import KeyedLimiter
from api.routes import (
    audit,
    cases,
    health,
    invitations,
    knowledge,
    mail,
    notices,
    organisations,
    plans,
    queues,
    releases,
    users,
)
from api.text import TextMiddleware
from db.read_model import create_schema, make_engine
from mail.intake import MailIntake
from observability import logs, metrics, tracing
from policies.loading import load_catalogs
from runtime import connect, pin_time_zone_data, tune_gc
from settings import Settings, get_settings
from web import app as web
from web.live import CaseFeed

# The largest body a request without files needs (an article or a notice is at most a
# few hundred KiB of JSON).
BODY_LIMIT = 2 * 1024 * 1024


def create_app(settings: Settings | None = None, own_process: bool = False) -> FastAPI:
    """The API. `own_process`: the app is the process's whole purpose (`uvicorn
    api.app:app`), so it may set the garbage collector as the worker does once started;
    an app built in a test or a bench's process leaves that process's collector alone."""
    settings = settings or get_settings()
    settings.check_for_production()  # at import for `uvicorn api.app:app`: before serving
    logs.configure(settings, "api")
    tracing.configure(settings, "tierline-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Deadlines shown and audits replayed here must agree with the worker's.
        pin_time_zone_data()
        app.state.settings = settings
        app.state.catalogs = load_catalogs(settings.catalog_dir)
        app.state.limiter = KeyedLimiter()
        app.state.engine = make_engine(settings.effective_database_url)
        create_schema(app.state.engine)
        bootstrap_admin(app.state.engine, settings.var_dir)
        app.state.temporal = await connect(settings)
        app.state.mail = MailIntake(
            app.state.engine, app.state.temporal, settings, app.state.catalogs, app.state.limiter
        )
        app.state.feed = CaseFeed(app.state.engine)
        async with registered(app.state.engine) as instance:
            app.state.instance = instance
            if own_process:
                tune_gc()  # what started is long-lived: frozen, collections rarer
            yield
        await app.state.feed.close()
        app.state.engine.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN.
    app = FastAPIOffline(
        title="Tierline",
        summary="Durable support cases with business-time SLAs",
        version="0.1.0",
        lifespan=lifespan,
        responses=errors.PROBLEM_RESPONSES,
    )
    errors.install(app)
    app.add_middleware(IdempotencyMiddleware)
    # Outside the idempotency claim: a refused request claims no key.
    app.add_middleware(TextMiddleware)
    # Outermost: nothing reads a body larger than any request needs. Forms with files may
    # carry as many files as a mail may, plus their fields.
    app.add_middleware(
        BodyLimitMiddleware,
        limit=BODY_LIMIT,
        multipart_limit=settings.mail_max_attachments * settings.mail_max_attachment_bytes
        + BODY_LIMIT,
    )
    # Outside the limit: a refused body is a request too, counted with its 413.
    metrics.install(app, settings.metrics_token)
    tracing.instrument_app(app, settings)
    app.include_router(health.router)
    app.include_router(users.router)
    app.include_router(invitations.router)
    app.include_router(organisations.router)
    app.include_router(plans.router)
    app.include_router(queues.router)
    app.include_router(cases.router)
    app.include_router(releases.router)
    app.include_router(releases.case_side)
    app.include_router(notices.router)
    app.include_router(audit.router)
    app.include_router(mail.router)
    app.include_router(knowledge.router)
    web.install(app)
    return app


app = create_app(own_process=True)
