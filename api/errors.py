"""Every error the API answers with, typed, and their mapping to RFC 9457 problem details
in one place: a route raises (or lets through) an error and never picks a status itself."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from audit.asof import CaseNeverOpened, ReplayFailed
from audit.history import CaseNotFound, HistoryProblem
from audit.whatif import CaseRefusedUnderPlan
from observability import tracing

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tierline.api")


class FieldError(BaseModel):
    field: str = Field(examples=["body.contact.email"])
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str = Field(examples=["Not allowed in the current state"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["only a resolved case can be confirmed, this one is tier1"])
    errors: list[FieldError] | None = None
    trace_id: str | None = Field(
        default=None,
        examples=["4bf92f3577b34da6a3ce929d0e0e4736"],
        description="The request's trace, when tracing is on",
    )


PROBLEM_RESPONSE: dict[str, Any] = {"model": Problem, "content": {PROBLEM_JSON: {}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {**PROBLEM_RESPONSE, "description": description}
    for status, description in (
        (400, "Malformed request (e.g. a body that is not JSON)"),
        (401, "No valid bearer token"),
        (403, "The caller's role may not do this"),
        (404, "Not found, or not visible to the caller"),
        (409, "Not allowed in the current state"),
        (422, "Invalid request: every bad field is named"),
        (500, "An unexpected error; its correlation id is in the server's log"),
        (503, "A dependency is unavailable"),
    )
}


class TierlineError(Exception):
    """Base of every error the API turns into a problem document."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Unauthenticated(TierlineError):
    status = 401
    title = "Authentication required"


class Forbidden(TierlineError):
    status = 403
    title = "Not allowed for your role"


class NotFound(TierlineError):
    status = 404
    title = "Not found"


class Conflict(TierlineError):
    status = 409
    title = "Not allowed in the current state"


class QuotaExhausted(Conflict):
    title = "Incident quota exhausted"


class InvalidField(TierlineError):
    """A bad value the request validation could not see (an unknown organisation, a plan
    without that severity): 422 naming the field, like every validation error."""

    status = 422
    title = "Invalid request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            f"{field}: {message}",
            errors=[{"field": field, "message": message, "type": "value_error"}],
        )


class Unavailable(TierlineError):
    status = 503
    title = "Service unavailable"


# The errors of the layers below the API, each with the one status and title it always
# answers: a route lets them through rather than choosing a status of its own.
DOMAIN_PROBLEMS: dict[type[Exception], tuple[int, str]] = {
    CaseNotFound: (404, "Not found"),
    HistoryProblem: (409, "History not readable as a case"),
    CaseNeverOpened: (409, "The case never opened"),
    ReplayFailed: (409, "History does not replay against this code"),
    CaseRefusedUnderPlan: (409, "The other plan would not have opened the case"),
}


def problem_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem document, with the trace id of the request when it is traced."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    trace_id = tracing.current_trace_id()
    if trace_id is not None:
        body["trace_id"] = trace_id
    return body


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = problem_body(status, title, detail, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    @app.exception_handler(TierlineError)
    async def _domain(_: Request, exc: TierlineError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    for error_type, (status, title) in DOMAIN_PROBLEMS.items():

        async def _domain_problem(
            _: Request, exc: Exception, status: int = status, title: str = title
        ) -> JSONResponse:
            return problem(status, title, str(exc))

        app.add_exception_handler(error_type, _domain_problem)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in err["loc"]),
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        return problem(422, "Invalid request", f"invalid fields: {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        """The last resort: any error no handler knows is a 500 problem document whose
        correlation id is also in the log line with the traceback."""
        correlation_id = uuid.uuid4().hex
        log.error(
            "unexpected error %s on %s %s: %s: %s",
            correlation_id,
            request.method,
            request.url.path,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        response = problem(
            500,
            "Internal server error",
            f"an unexpected error; quote correlation id {correlation_id}",
            correlation_id=correlation_id,
        )
        response.headers["X-Correlation-Id"] = correlation_id
        return response
