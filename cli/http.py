"""The CLI's one way to the API: where it is, who calls, and problem documents on stderr."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.text import Text

from settings import get_settings

DEFAULT_API = "http://127.0.0.1:8000"
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ApiConfig:
    url: str
    token: str | None


ApiOption = Annotated[
    str, typer.Option("--api", envvar="TIERLINE_API", help="Base URL of the Tierline API.")
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="TIERLINE_TOKEN",
        help="Bearer token (default: the embedded stack's var/admin-token).",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON as it is.")]


def default_token() -> str | None:
    path: Path = get_settings().var_dir / "admin-token"
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def configure(ctx: typer.Context, api: ApiOption = DEFAULT_API, token: TokenOption = None) -> None:
    """Group callback: remember where the API is and whose token to send."""
    ctx.obj = ApiConfig(url=api.rstrip("/"), token=token or default_token())


def out() -> Console:
    # Text from the API is printed as written, never read as rich markup.
    return Console(highlight=False, markup=False, soft_wrap=True)


def err() -> Console:
    return Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def call_raw(
    ctx: typer.Context,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    """Send one request and return the response as it came (files are kept byte for byte);
    a problem document goes to stderr and the command exits 1."""
    config = ctx.find_object(ApiConfig) or ApiConfig(DEFAULT_API, default_token())
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    query = {key: value for key, value in (params or {}).items() if value not in (None, [])}
    try:
        with httpx.Client(base_url=config.url, timeout=TIMEOUT_SECONDS) as client:
            response = client.request(method, path, json=body, params=query, headers=headers)
    except httpx.HTTPError as error:
        err().print(Text.assemble(("Cannot reach the API", "bold red"), f" at {config.url}"))
        err().print(f"  {type(error).__name__}: {error}")
        raise typer.Exit(1) from None
    if response.is_error:
        print_problem(response)
        raise typer.Exit(1)
    return response


def call(
    ctx: typer.Context,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Any:
    """Send one request and return its JSON body (see `call_raw`)."""
    return call_raw(
        ctx, method, path, body=body, params=params, idempotency_key=idempotency_key
    ).json()


def print_problem(response: httpx.Response) -> None:
    """Title and status, the detail, then every field error, as RFC 9457 documents carry them."""
    console = err()
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        console.print(Text.assemble((f"HTTP {response.status_code}", "bold red")))
        if response.text:
            console.print(f"  {response.text.strip()}")
        return
    title = problem.get("title") or response.reason_phrase
    console.print(Text.assemble((f"{title}", "bold red"), f" ({response.status_code})"))
    errors = problem.get("errors") or []
    lines = {f"{e.get('field')}: {e.get('message')}" for e in errors}
    summary = "invalid fields: " + ", ".join(str(e.get("field")) for e in errors)
    detail = problem.get("detail")
    # The field lines below say it all when the detail only repeats them.
    if detail and detail != title and detail not in lines and detail != summary:
        console.print(f"  {detail}")
    for error in errors:
        console.print(
            Text.assemble("  ", (str(error.get("field")), "bold"), f": {error.get('message')}")
        )


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def utc(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def local(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).isoformat(sep=" ", timespec="minutes")


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    days, rest = divmod(abs(seconds), 86400)
    hours, minutes = divmod(rest // 60, 60)
    units = ((days, "d"), (hours, "h"), (minutes, "m"))
    text = " ".join(f"{count}{unit}" for count, unit in units if count) or "0m"
    return f"-{text}" if seconds < 0 else text


def yes(value: bool, style: str = "red") -> Text:
    return Text("yes", style=style) if value else Text("no", style="dim")
