"""Tierline's one configuration object, read from the environment once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mail.tag import DEFAULT_CASE_TAG_FORMAT, check_tag_format

ROOT = Path(__file__).resolve().parent


# SQLite pragmas of the embedded dev server's file: WAL with normal syncing (a process
# crash loses nothing; a power cut may lose the last moments), and a 64 MiB page cache
# instead of SQLite's 2 MiB default for a file that grows by about 50 KB a case.
EMBEDDED_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal", "cache_size=-65536")


def embedded_sqlite_flags() -> list[str]:
    """`--sqlite-pragma` flags for `temporal server start-dev`."""
    return [flag for pragma in EMBEDDED_SQLITE_PRAGMAS for flag in ("--sqlite-pragma", pragma)]


# What the embedded stack signs webhooks with; anywhere else it is refused (it is public).
DEFAULT_WEBHOOK_SECRET = "change-me"


class RefusedToStart(SystemExit):
    """Settings unsafe outside the embedded stack. Uncaught, the process exits 1 and
    prints the message as its one line."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"tierline: refusing to start: {problem}")


class Settings(BaseSettings):
    """Every knob Tierline has. Defaults run the embedded single-machine stack."""

    # An empty variable means "not set", so `TEMPORAL_TLS_CERT=` does not become Path(".").
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    var_dir: Path = Field(default=ROOT / "var", description="Where the embedded stack keeps state")

    catalog_dir: Path = Field(
        default=ROOT / "policies" / "catalogs", description="Directory of policy catalogs"
    )

    temporal_address: str | None = Field(
        default=None,
        description="host:port of a Temporal cluster; unset starts the embedded dev server",
    )
    temporal_namespace: str = "default"
    temporal_task_queue: str = "tierline-cases"
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: str | None = None

    embedded_temporal_port: int = 7233
    embedded_temporal_ui_port: int = 8233

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the read model; unset uses SQLite under var/",
    )

    smtp_host: str = Field(default="127.0.0.1", description="SMTP relay for e-mail notifications")
    smtp_port: int = 25
    smtp_sender: str = "tierline@localhost"
    case_tag_format: str = Field(
        default=DEFAULT_CASE_TAG_FORMAT,
        description="The case tag before the subject of every mail about a case, and what "
        "the inbound side looks for in a reply's subject: text around one {number} field",
    )
    mail_catcher_host: str = Field(
        default="127.0.0.1", description="Where the development mail catcher listens"
    )
    mail_catcher_port: int = Field(
        default=1025, ge=1, le=65535, description="SMTP port of the development mail catcher"
    )
    webhook_secret: str = Field(
        default=DEFAULT_WEBHOOK_SECRET,
        description="HMAC-SHA256 key that signs webhook notifications; outside the embedded "
        "stack the worker and the API refuse to start with the default or an empty one",
    )

    support_inbox: str | None = Field(
        default=None, description="The support team's address for warnings and breaches"
    )
    escalation_contacts: dict[int, str] = Field(
        default_factory=dict,
        description='Management chain level -> e-mail, as JSON: {"1": "lead@example.com"}',
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # The inbound e-mail gateway (mail/gateway.py).
    inbound_smtp_host: str = Field(default="127.0.0.1", description="Where the gateway listens")
    inbound_smtp_port: int = 2525
    mail_max_bytes: int = Field(
        default=15 * 1024 * 1024,
        ge=1024,
        description="Largest mail the gateway accepts (SMTP SIZE); a larger one is refused "
        "with 552 before it is stored",
    )
    mail_max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    mail_max_attachments: int = Field(default=10, ge=0)
    mail_allowed_types: list[str] = Field(
        default_factory=lambda: [
            "application/pdf",
            "application/zip",
            "image/png",
            "image/jpeg",
            "image/gif",
            "text/plain",
            "text/csv",
            "application/json",
            "message/rfc822",
        ],
        description="Attachment content types kept; others are refused and listed on the mail",
    )
    mail_routes: dict[str, str] = Field(
        default_factory=dict,
        description="Recipient address -> catalog or catalog:plan, as JSON: "
        '{"premier@support.example": "worldscape:premier"}. A mail to a routed address '
        "is for the sender's organisation on that catalog or plan; other addresses "
        "consider every organisation the sender is a contact of",
    )
    mail_workers: int = Field(
        default=4,
        ge=1,
        description="Mails the gateway processes at once; one sender's always in order",
    )
    mail_hourly_limit: int = Field(
        default=30, ge=1, description="Mails an hour from one sender before the rest are ignored"
    )

    session_idle_minutes: int = Field(
        default=30, ge=1, description="A console session not used for this long ends"
    )
    session_max_hours: int = Field(
        default=12, ge=1, description="A console session ends this long after sign-in"
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark session cookies Secure whatever the request's scheme (behind a "
        "TLS-terminating proxy that does not forward it); https requests always get it",
    )
    sign_in_limit: int = Field(
        default=5, ge=1, description="Failed sign-ins per user in 15 minutes before a wait"
    )
    sign_in_address_limit: int = Field(
        default=20, ge=1, description="Failed sign-ins per client address in 15 minutes"
    )

    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="Where people reach Tierline (https://support.example.com): links in "
        "mail (invitations, password resets, a case on the portal) point there. Unset: "
        "the embedded stack uses the address a request came to (a case's mail: its own "
        "API); elsewhere those links are refused and case mail goes without one, since a "
        "forged Host header would otherwise choose where a reset link points",
    )
    invite_link_hours: int = Field(
        default=72, ge=1, description="How long an e-mailed invitation link works"
    )
    reset_link_minutes: int = Field(
        default=60, ge=1, description="How long an e-mailed password-reset link works"
    )

    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="Where the worker serves its Prometheus metrics (the Temporal SDK's and "
        "tierline_*); 0.0.0.0 for a scraper on another host",
    )
    worker_metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Port of the worker's /metrics; 0: none"
    )
    mail_metrics_host: str = Field(
        default="127.0.0.1", description="Where the mail gateway serves its Prometheus metrics"
    )
    mail_metrics_port: int = Field(
        default=9465, ge=0, le=65535, description="Port of the mail gateway's /metrics; 0: none"
    )
    metrics_token: str | None = Field(
        default=None,
        description="When set, the API's /metrics answers only requests with "
        "'Authorization: Bearer <this>' (Prometheus's `authorization` scrape option); "
        "unset, /metrics is open, so keep it off a public address",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("otlp_endpoint", "otel_exporter_otlp_endpoint"),
        pattern=r"^https?://\S+$",
        description="OTLP/HTTP endpoint (http://collector:4318) that traces are exported to "
        "(also read from OTEL_EXPORTER_OTLP_ENDPOINT); unset: no tracing",
    )
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of the traces that start in Tierline which are recorded and "
        "exported (by trace id, so all processes agree; a caller's sampled traceparent is "
        "always followed). Tracing every request costs the API and the worker CPU on each "
        "action: see bench/api.py --observability",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: readable lines; json: one JSON object a line, with the case "
        "number, workflow id, update id and trace id where they apply",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    worker_max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Workflows a worker keeps in memory (the SDK's default, 1000). A timer "
        "or action for a case outside the cache replays its whole history first, so set "
        "it at least to the open cases one worker serves, memory allowing (about 0.2 MiB "
        "per case)",
    )

    workflow_sandbox: bool = Field(
        default=False,
        description="Run workflows in the SDK's sandbox, which re-imports each workflow's "
        "module for every case it loads and guards each call against non-deterministic "
        "ones. Off by default: measured opening cases, the sandbox cost 2.7 times the "
        "worker's CPU and about 90 KiB more per cached case; the test suite and the audit "
        "replay gate run every workflow in it, so a forbidden call fails there first",
    )

    @property
    def embedded(self) -> bool:
        """The embedded stack: Tierline starts its own Temporal dev server."""
        return self.temporal_address is None

    @property
    def links_base(self) -> str | None:
        """Where links in mail that no request prompted point (a case on the portal):
        `public_url`, or the embedded stack's own API; elsewhere none."""
        if self.public_url:
            return self.public_url
        if not self.embedded:
            return None
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::", "") else self.api_host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.api_port}"

    def check_for_production(self) -> None:
        """Raise `RefusedToStart` if these settings are unsafe outside the embedded stack.
        The worker and the API call it before they start."""
        if self.embedded:
            return
        if self.webhook_secret.strip() in ("", DEFAULT_WEBHOOK_SECRET):
            raise RefusedToStart(
                f"WEBHOOK_SECRET is unset, empty or the default {DEFAULT_WEBHOOK_SECRET!r}, "
                "which only the embedded stack accepts (TEMPORAL_ADDRESS is set): set it to a "
                "long random value that your webhook receivers share"
            )

    @field_validator("case_tag_format")
    @classmethod
    def _usable_tag_format(cls, value: str) -> str:
        return check_tag_format(value)

    @property
    def mail_outbox(self) -> Path:
        """Where the development mail catcher keeps what it caught."""
        return self.var_dir / "mail" / "outbox"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'tierline.db'}"

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.embedded_temporal_port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
