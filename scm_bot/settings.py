"""All configuration, read once from the environment and `.env` in the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    # An empty value (`SCM_CONSOLE=` as in .env.example) means "not set": the default applies.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = Field(default=Path("data"), description="Where SQLite and locks live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite in DATA_DIR. PostgreSQL: "
        "postgresql://user@host:5432/db",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="json: one JSON object a line; console: for a person reading. "
        "Default: console on a terminal, json otherwise.",
    )
    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = Field(
        default="https://api.telegram.org/bot",
        description="Bot API base URL; point it at a self-hosted Bot API server.",
    )
    telegram_bot_username: str | None = Field(
        default=None, description="For invite deep links; asked from getMe when empty."
    )
    telegram_webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL; empty means long polling."
    )
    telegram_webhook_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_mode: str = Field(default="socket", pattern="^(socket|http)$")
    slack_api_url: str = Field(default="https://slack.com/api/")
    scm_console: bool | None = Field(
        default=None,
        description="Run the console too. Default: only when no chat transport is set.",
    )
    analyse_form: Path | None = Field(
        default=None, description="The region's own analyse form (YAML); default built in."
    )
    link_code_hours: int = Field(default=24, ge=1, le=24 * 14)
    retention_days: int = Field(
        default=365,
        ge=30,
        description="Closed incidents, ended rosters and other personal data are removed "
        "after this many days; anonymous statistics stay.",
    )
    audit_retention_days: int = Field(
        default=1825, ge=30, description="Audit records are removed after this many days."
    )
    http_listen: str = Field(
        default="127.0.0.1", description="Where the HTTP server listens (behind a proxy)."
    )
    http_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="The HTTP server (webhooks, Slack events, calendar feeds, /healthz, "
        "/metrics); empty: none.",
    )
    public_base_url: str | None = Field(
        default=None,
        description="Where people reach the HTTP server (https://piket.example.nl); "
        "empty: http://HTTP_LISTEN:HTTP_PORT.",
    )
    # Deprecated: one server per instance serves all of these now (HTTP_LISTEN, HTTP_PORT).
    telegram_webhook_listen: str | None = None
    telegram_webhook_port: int | None = None
    slack_http_listen: str | None = None
    slack_http_port: int | None = None
    ical_http_listen: str | None = None
    ical_http_port: int | None = None

    @model_validator(mode="after")
    def _audit_outlives_incidents(self) -> Self:
        """The audit log is an incident's logbook: it may not go before the incident does."""
        if self.audit_retention_days < self.retention_days:
            raise ValueError(
                f"AUDIT_RETENTION_DAYS ({self.audit_retention_days}) must be at least "
                f"RETENTION_DAYS ({self.retention_days}): the audit log is the logbook of "
                "the incidents that are still kept"
            )
        return self

    @model_validator(mode="after")
    def _one_http_server(self) -> Self:
        """The former per-feature servers' settings stand for HTTP_LISTEN and HTTP_PORT
        while those are not set, as long as they agree; a webhook needs the server."""
        if self.http_port is None:
            port = _agreed("HTTP_PORT", self._former("port"))
            self.http_port = int(port) if port is not None else None
        if "http_listen" not in self.model_fields_set:
            listen = _agreed("HTTP_LISTEN", self._former("listen"))
            self.http_listen = str(listen) if listen is not None else self.http_listen
        if self.http_port is None:
            if self.telegram_webhook_url:
                raise ValueError(
                    "TELEGRAM_WEBHOOK_URL (webhook mode) needs HTTP_PORT, the port of the HTTP "
                    "server Telegram's requests reach (formerly TELEGRAM_WEBHOOK_PORT, 8443)"
                )
            if self.slack_mode == "http":
                raise ValueError(
                    "SLACK_MODE=http needs HTTP_PORT, the port of the HTTP server Slack's "
                    "requests reach (formerly SLACK_HTTP_PORT, 3000)"
                )
        return self

    def _former(self, what: str) -> dict[str, int | str]:
        names = ("telegram_webhook", "slack_http", "ical_http")
        values = {f"{name}_{what}".upper(): getattr(self, f"{name}_{what}") for name in names}
        return {name: value for name, value in values.items() if value is not None}

    @property
    def deprecated_in_use(self) -> list[str]:
        """The former settings that are set (the runtime warns about them)."""
        return [*self._former("port"), *self._former("listen")]

    def secrets(self) -> list[str]:
        """Every configured secret (never to appear in a log line): the tokens, the
        webhook and signing secrets and the database password."""
        values = [
            secret.get_secret_value()
            for secret in (
                self.telegram_bot_token,
                self.telegram_webhook_secret,
                self.slack_bot_token,
                self.slack_app_token,
                self.slack_signing_secret,
            )
            if secret is not None
        ]
        if self.database_url:
            url = make_url(self.database_url)
            # The password in the URL's user part, or as a parameter (`?password=`).
            given = url.query.get("password", ())
            for password in [url.password, *([given] if isinstance(given, str) else given)]:
                if password:
                    values.append(str(password))
        return values

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'scm-bot.sqlite').resolve()}"

    @property
    def ical_feed_url(self) -> str | None:
        """The base of calendar subscription URLs; None when there is no HTTP server."""
        if self.http_port is None:
            return None
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.http_listen}:{self.http_port}"

    @property
    def has_chat_transport(self) -> bool:
        return bool(self.telegram_bot_token or self.slack_bot_token)


def _agreed(new: str, former: dict[str, int | str]) -> int | str | None:
    """The one value the former settings agree on (None if none is set)."""
    values = set(former.values())
    if len(values) > 1:
        named = ", ".join(f"{name}={value}" for name, value in former.items())
        raise ValueError(
            f"{named}: one HTTP server serves the webhook, Slack, the calendar feeds, "
            f"/healthz and /metrics now; set {new} instead"
        )
    return values.pop() if values else None
