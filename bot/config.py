"""Settings: a TOML file plus environment variables, validated into one object.

Every problem is reported as a `ConfigError` whose message is one sentence naming the key and
the fix, so `python -m bot` can print it and exit with code 2 instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_PATH = Path("config.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/asa.db"
TELEGRAM_API_URL = "https://api.telegram.org/bot"
TELEGRAM_FILE_URL = "https://api.telegram.org/file/bot"

# BotFather tokens are "<bot id>:<35 characters>"; we accept a little more than 35 so that a
# future change of length does not lock anyone out, but never anything with spaces or quotes.
TOKEN_PATTERN = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{30,64}$")
SECRET_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
SUPPORTED_LANGUAGES = ("th", "en")


class ConfigError(Exception):
    """A configuration problem, explained in one sentence."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(_Section):
    """How to reach Telegram."""

    token: str = ""
    base_url: str = TELEGRAM_API_URL
    base_file_url: str = TELEGRAM_FILE_URL
    # Telegram allows about 30 messages a second overall; 29.5 already drew 429s in the bench.
    rate_limit: float = Field(default=29.0, gt=0, le=1000)
    max_retries: int = Field(default=3, ge=0, le=10)
    poll_timeout: int = Field(default=30, ge=0, le=50)
    paid_broadcast: bool = False
    # "polling" (one process, the default) or "webhook" (Telegram posts updates to
    # webhook_url; any number of replicas on PostgreSQL behind it).
    mode: Literal["polling", "webhook"] = "polling"
    # The public https:// address Telegram reaches this bot's web side at (its reverse
    # proxy); updates go to <webhook_url>/telegram/<a path derived from secret_token>.
    webhook_url: str = ""
    # Sent by Telegram with every update (X-Telegram-Bot-Api-Secret-Token); 1-256 of A-Z a-z
    # 0-9 _ -. Prefer the WEBHOOK_SECRET environment variable.
    secret_token: str = ""
    # How many deliveries Telegram makes at once (1-100).
    max_connections: int = Field(default=40, ge=1, le=100)

    @field_validator("webhook_url")
    @classmethod
    def _public_address(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("Telegram only posts to https:// addresses")
        if not parts.hostname or parts.query or parts.fragment:
            raise ValueError("use an address such as https://asa.example.org")
        return value.rstrip("/")

    @field_validator("secret_token")
    @classmethod
    def _secret_characters(cls, value: str) -> str:
        if value and not SECRET_TOKEN_PATTERN.fullmatch(value):
            raise ValueError("use 1 to 256 characters from A-Z, a-z, 0-9, _ and -")
        return value


class DatabaseSettings(_Section):
    """Where the data lives."""

    url: str = DEFAULT_DATABASE_URL
    echo: bool = False
    # At least 2: the pool has no overflow, and the leader (bot/leader.py) keeps one of its
    # connections for its advisory lock, so a pool of 1 would leave no connection for work.
    pool_size: int = Field(default=10, ge=2, le=100)
    # How long one action is retried while the database is unreachable before the person is
    # told it was not recorded.
    retry_seconds: float = Field(default=45.0, ge=0, le=600)


class BotSettings(_Section):
    """How the bot behaves."""

    timezone: str = "Asia/Bangkok"
    default_language: Literal["th", "en"] = "th"
    admins: tuple[int, ...] = ()
    zones_file: Path | None = None
    data_retention_days: int = Field(default=730, ge=30)
    privacy_notice_version: str = "2026-11"
    max_concurrent_updates: int = Field(default=64, ge=1, le=1024)
    flood_max_updates: int = Field(default=20, ge=1)
    flood_window_seconds: float = Field(default=10.0, gt=0)
    flood_mute_seconds: float = Field(default=30.0, gt=0)
    # An unfinished flow (registration, /newevent, /broadcast...) is dropped after this long
    # without an answer; a waiting prompt (the check-in code) sooner.
    flow_timeout_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)
    prompt_timeout_minutes: float = Field(default=10.0, gt=0, le=24 * 60)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"unknown time zone {value!r}; use a name like Asia/Bangkok"
            ) from error
        return value


class BroadcastSettings(_Section):
    """How the outbox sends announcements."""

    # Sends claimed and not yet answered, at most (a slow one holds one place, not a batch).
    in_flight: int = Field(default=40, ge=1, le=500)
    # Deliveries claimed in one transaction, at most.
    batch_size: int = Field(default=20, ge=1, le=500)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_backoff_seconds: float = Field(default=2.0, gt=0)
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    # A claim not renewed for this long belongs to a process that is gone: sent again.
    lease_seconds: float = Field(default=20.0, gt=0)


class ReminderSettings(_Section):
    """When automatic event reminders go out."""

    day_before_hours: float = Field(default=24.0, gt=0)
    hour_before_minutes: float = Field(default=60.0, gt=0)
    nudge_after_start_minutes: float = Field(default=30.0, gt=0)


class WebSettings(_Section):
    """The web side: health, metrics, the venue screen and the organisers' dashboard."""

    # Serve the web application at all (health, metrics and pages share one listener).
    enabled: bool = True
    listen: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The address people reach the pages at (behind a reverse proxy: its https:// URL). Links
    # the bot sends (the venue screen, the dashboard, laptop logins) start with it.
    public_url: str = ""
    # Mini App data (initData) older than this is refused.
    init_data_max_age_seconds: int = Field(default=14400, ge=60, le=7 * 24 * 3600)
    # A laptop login link works once, for this long; the session it opens lasts session_hours.
    login_link_minutes: float = Field(default=10.0, gt=0, le=60)
    session_hours: float = Field(default=12.0, gt=0, le=7 * 24)
    # How often an open screen re-reads its event (a code rotated or check-in closed by hand),
    # shared by every screen of that event; check-ins are pushed at once, not polled.
    screen_tick_seconds: float = Field(default=2.0, ge=0.2, le=60)

    @field_validator("listen")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        if value == "localhost":
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("use an address such as 127.0.0.1, 0.0.0.0 or ::") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("use an address such as https://asa.example.org")
        if parts.query or parts.fragment:
            raise ValueError("the address must have no ?query or #fragment")
        return value.rstrip("/")

    @property
    def base_url(self) -> str:
        """Where links point: public_url, else this listener (fine on one machine only)."""
        if self.public_url:
            return self.public_url
        host = f"[{self.listen}]" if ":" in self.listen else self.listen
        return f"http://{host}:{self.port}"


class Settings(_Section):
    """Everything the bot needs to run, validated."""

    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    bot: BotSettings = BotSettings()
    broadcast: BroadcastSettings = BroadcastSettings()
    reminders: ReminderSettings = ReminderSettings()
    web: WebSettings = WebSettings()

    @property
    def tz(self) -> ZoneInfo:
        """The time zone people live in."""
        return ZoneInfo(self.bot.timezone)

    @model_validator(mode="after")
    def _webhook_complete(self) -> Settings:
        """Webhook mode needs its address, its secret and the web side that receives it."""
        telegram = self.telegram
        if telegram.mode != "webhook":
            return self
        if not telegram.webhook_url:
            raise ValueError(
                "[telegram] mode = webhook needs [telegram] webhook_url, the https:// address "
                "Telegram can reach"
            )
        if not telegram.secret_token:
            raise ValueError(
                "[telegram] mode = webhook needs [telegram] secret_token (or WEBHOOK_SECRET)"
            )
        if not self.web.enabled:
            raise ValueError("[telegram] mode = webhook needs [web] enabled = true")
        return self


def config_path(explicit: str | Path | None, environ: dict[str, str] | None = None) -> Path:
    """The config file to read: --config, else ASA_CONFIG, else ./config.toml."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("ASA_CONFIG"):
        return Path(env["ASA_CONFIG"])
    return DEFAULT_CONFIG_PATH


def load_settings(
    path: str | Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    require_token: bool = True,
) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError on any problem."""
    env = dict(os.environ) if environ is None else environ
    file = config_path(path, env)
    raw = _read_toml(file, explicit=path is not None or "ASA_CONFIG" in env)
    _apply_environment(raw, env)
    settings = _validate(raw, file)
    if require_token:
        check_token(settings.telegram.token)
    return settings


def check_token(token: str) -> None:
    """Refuse a missing or malformed bot token, without ever echoing the token."""
    if not token:
        raise ConfigError(
            "No bot token: set [telegram] token in config.toml or the BOT_TOKEN environment "
            "variable to the token BotFather gave you."
        )
    if not TOKEN_PATTERN.match(token):
        raise ConfigError(
            "The bot token in [telegram] token (or BOT_TOKEN) is malformed: it should look like "
            "123456789:AA... as BotFather gives it; copy it again without spaces or quotes."
        )


def _read_toml(file: Path, *, explicit: bool) -> dict[str, Any]:
    """The parsed file, or {} when the default file is simply absent."""
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"Config file {file} does not exist: check the path given with --config or "
                "ASA_CONFIG, or copy config.example.toml there."
            )
        return {}
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(
            f"Config file {file} cannot be read ({error.strerror}): fix its permissions."
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"Config file {file} is not valid TOML ({error}): compare it with config.example.toml."
        ) from error


def _apply_environment(raw: dict[str, Any], env: dict[str, str]) -> None:
    """Secrets and deployment URLs from the environment win over the file."""
    if env.get("BOT_TOKEN"):
        raw.setdefault("telegram", {})["token"] = env["BOT_TOKEN"].strip()
    if env.get("DATABASE_URL"):
        raw.setdefault("database", {})["url"] = env["DATABASE_URL"].strip()
    if env.get("WEBHOOK_SECRET"):
        raw.setdefault("telegram", {})["secret_token"] = env["WEBHOOK_SECRET"].strip()


def _validate(raw: dict[str, Any], file: Path) -> Settings:
    """Pydantic validation, with its first error turned into one sentence."""
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = _dotted_key(first["loc"])
        if first["type"] == "extra_forbidden":
            raise ConfigError(
                f"Unknown setting {key} in {file}: remove it or check its spelling against "
                "config.example.toml."
            ) from None
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            # A rule across sections (webhook mode and its settings): its message says it all.
            raise ConfigError(f"{message[0].upper()}{message[1:]} (in {file}).") from None
        raise ConfigError(
            f"Setting {key} in {file} is invalid ({message}): see config.example.toml."
        ) from None


def _dotted_key(location: tuple[int | str, ...]) -> str:
    """('bot', 'admins', 0) -> '[bot] admins'."""
    parts = [str(part) for part in location if not isinstance(part, int)]
    if len(parts) >= 2:
        return f"[{parts[0]}] {'.'.join(parts[1:])}"
    return f"[{parts[0]}]" if parts else "(top level)"
