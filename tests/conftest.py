"""Shared fixtures: a database per test, the fake Telegram, and the real bot running against it."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import Settings
from storage.database import Database, create_engine, session_factory
from tests import database
from tests.harness import BotHarness, test_settings

if TYPE_CHECKING:
    from tests.fake_telegram import FakeTelegram

# python-telegram-bot 22 builds RetryAfter through its own deprecated float property unless told
# to use timedelta; under filterwarnings=error that warning would replace every 429.
os.environ.setdefault("PTB_TIMEDELTA", "true")
# Any Telegram request made while a database session is open fails the test that made it
# (bot/telegram_bot.py GuardedRequest): a slow Telegram must never hold a connection.
os.environ.setdefault("ASA_STRICT_SESSIONS", "1")


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | Path]:
    """Migrated once per run: an SQLite template file, or a private PostgreSQL database."""
    if database.backend() == "sqlite":
        yield database.make_sqlite_template(tmp_path_factory.mktemp("template"))
        return
    url = database.create_pg_database()
    yield url
    database.drop_pg_database(url)


@pytest.fixture
async def database_url(_database_template: str | Path, tmp_path: Path) -> str:
    """A clean, migrated database for this test."""
    if isinstance(_database_template, Path):
        return database.copy_sqlite(_database_template, tmp_path / "asa.db")
    await database.truncate_all(_database_template)
    return _database_template


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """Use cases' entry to this test's database, on an engine of its own (disposed after)."""
    engine = create_engine(database_url)
    try:
        yield Database(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API server on a loopback port."""
    from tests.fake_telegram import FakeTelegram

    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """Settings pointing the bot at the fake server and this test's database."""
    return test_settings(telegram=telegram, database_url=database_url)


@pytest.fixture
async def bot(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[BotHarness]:
    """The real application, polling the fake server; stopped after the test."""
    harness = BotHarness(settings=settings, telegram=telegram)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


class _MissingTranslations(logging.Handler):
    """Collects "missing translation" warnings: keys built at run time that no catalog has."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.missing: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("missing translation"):
            self.missing.append(record.getMessage())


@pytest.fixture(autouse=True)
def _every_key_translated() -> Iterator[None]:
    """Fail any test during which the bot looked up a key no catalog has (in any language)."""
    collector = _MissingTranslations()
    logger = logging.getLogger("bot.i18n")
    logger.addHandler(collector)
    try:
        yield
    finally:
        logger.removeHandler(collector)
    assert collector.missing == [], collector.missing
