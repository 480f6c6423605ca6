"""All configuration, read once from the environment and `.env` in the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_mode: str = Field(default="socket", pattern="^(socket|http)$")
    slack_api_url: str = Field(default="https://slack.com/api/")
    slack_http_listen: str = "127.0.0.1"
    slack_http_port: int = 3000
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
    ical_http_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve calendar subscriptions (/rooster abonneer) on this port; empty: off.",
    )
    ical_http_listen: str = "127.0.0.1"
    public_base_url: str | None = Field(
        default=None,
        description="Where people reach the calendar server (https://piket.example.nl); "
        "empty: http://ICAL_HTTP_LISTEN:ICAL_HTTP_PORT.",
    )

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
            password = make_url(self.database_url).password
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
        """The base of calendar subscription URLs; None when the calendar server is off."""
        if self.ical_http_port is None:
            return None
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.ical_http_listen}:{self.ical_http_port}"

    @property
    def has_chat_transport(self) -> bool:
        return bool(self.telegram_bot_token or self.slack_bot_token)
