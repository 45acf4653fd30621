"""Statements sent straight to asyncpg (storage/driver.py) read, convert, fail and recover as
SQLAlchemy's do.

On PostgreSQL `Database.read` and `Database.write_alone` run their work past SQLAlchemy's
execution (the hot path's CPU), so these tests hold that path to SQLAlchemy's answers, row for
row and type for type, and to the pool's promises: a broken or interrupted connection is
never handed to the next update. They use a PostgreSQL database of their own whatever
ASA_TEST_DB says (the path is PostgreSQL's; SQLite's reads go through SQLAlchemy).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services import checkins, senders
from bot.services.access import Role
from bot.usecases.scope import save_flow
from storage import driver
from storage.database import LATENCY_ENV, Database, create_engine, session_factory
from storage.driver import StatementCache, Statements
from storage.models import CoordinatorZone, Person
from tests import database
from tests.factories import grant, make_event, make_person

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TELEGRAM_ID = 812_345_678


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of this test's own (conftest's `db` runs on it)."""
    async with database.migrated_pg_scratch() as scratch:
        yield scratch


async def _through_sqlalchemy(engine: AsyncEngine, statement: Any, parameters: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(statement, parameters)).all())


async def _past_sqlalchemy(db: Database, statement: Any, parameters: Any) -> list[Any]:
    async def work(connection: Statements) -> list[Any]:
        assert isinstance(connection, driver.DriverStatements)
        return list((await connection.execute(statement, parameters)).all())

    return await db.read(work)


async def _both(db: Database, statement: Any, parameters: Any) -> tuple[list[Any], list[Any]]:
    return (
        await _through_sqlalchemy(db.engine, statement, parameters),
        await _past_sqlalchemy(db, statement, parameters),
    )


def _typed(rows: list[Any]) -> list[list[tuple[str, Any, type]]]:
    """Each row as (name, value, type) triples: equal values of other types would hide a
    conversion that was skipped (a naive datetime, a JSON text, a Decimal for a float)."""
    return [[(name, value, type(value)) for name, value in row._asdict().items()] for row in rows]


async def test_the_sender_reads_as_sqlalchemy_reads_it(db: Database) -> None:
    async with db.sessions() as session:
        person = await make_person(session, telegram_id=TELEGRAM_ID, full_name="สมศรี ใจดี")
        await grant(session, person, Role.COORDINATOR)
        await grant(session, person, Role.STAFF)
    await save_flow(
        db,
        telegram_id=TELEGRAM_ID,
        flow="checkin_code",
        step="code",
        nonce="n1",
        draft={"phone": "0812340001", "zones": [3, 4]},
        now=NOW,
    )
    parameters = {"telegram_id": TELEGRAM_ID}
    sqlalchemy_rows, driver_rows = await _both(db, senders._SENDER, parameters)
    assert len(driver_rows) == 2  # a row per role
    assert _typed(driver_rows) == _typed(sqlalchemy_rows)
    draft = driver_rows[0].draft
    assert draft == {"phone": "0812340001", "zones": [3, 4]}  # JSON decoded, not text
    assert driver_rows[0].last_active_at.tzinfo is not None
    stranger = await _past_sqlalchemy(db, senders._SENDER, {"telegram_id": 1})
    assert [row.id for row in stranger] == [None]


async def test_an_event_reads_as_sqlalchemy_reads_it_floats_and_times_included(
    db: Database,
) -> None:
    async with db.sessions() as session:
        found = await make_event(session, now=NOW, latitude=13.7563, longitude=100.5018)
        code = found.code
    sqlalchemy_rows, driver_rows = await _both(db, checkins._EVENT_BY_STATIC_CODE, {"code": code})
    assert _typed(driver_rows) == _typed(sqlalchemy_rows)
    assert isinstance(driver_rows[0].latitude, float)
    assert driver_rows[0].starts_at == NOW + timedelta(minutes=30)


async def test_parameters_are_converted_as_sqlalchemy_converts_them(db: Database) -> None:
    """A naive datetime is refused by the column's type, as through SQLAlchemy, rather than
    sent to PostgreSQL to be read in some time zone."""
    async with db.sessions() as session:
        person = await make_person(session)
        found = await make_event(session, now=NOW)
    naive = {
        "code": found.code,
        "person_id": person.id,
        "now": datetime(2026, 12, 1, 9, 0),  # noqa: DTZ001 - the mistake under test
        "method": "code",
    }
    with pytest.raises(ValueError, match="naive datetime"):
        await _past_sqlalchemy(db, checkins._STATIC_CODE_CHECK_IN, naive)
    async with db.sessions() as session:
        assert not (await session.exec(text("SELECT id FROM checkin"))).all()  # type: ignore[call-overload]


async def test_a_missing_parameter_is_named_and_nothing_is_sent(
    db: Database,
) -> None:
    engine = db.engine
    sent: list[str] = []
    driver.listen(engine, sent.append)
    try:
        with pytest.raises(TypeError, match="'telegram_id'"):
            await _past_sqlalchemy(db, senders._SENDER, {})
    finally:
        driver.remove(engine, sent.append)
    assert sent == []


async def test_a_textual_statement_reads_by_its_own_column_names(db: Database) -> None:
    rows = await _past_sqlalchemy(db, text("SELECT 7 AS seven, 'เจ็ด' AS word"), {})
    assert [(row.seven, row.word) for row in rows] == [(7, "เจ็ด")]
    assert await _past_sqlalchemy(db, text("SELECT 1 WHERE false"), {}) == []


async def test_a_statement_built_per_call_is_compiled_for_itself() -> None:
    """The cache is keyed by the statement object: a new statement (even at a reused
    address) is compiled anew, and statements built per call never grow it without bound."""
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1/none")
    cache = StatementCache(engine.dialect)

    class Prepared:
        def get_attributes(self) -> list[Any]:
            return [type("A", (), {"type": type("T", (), {"oid": 23})})()]

    class FakeDriver:
        async def prepare(self, _sql: str) -> Prepared:
            return Prepared()

    for zone in range(driver.CACHE_LIMIT + 10):
        statement = select(CoordinatorZone.zone).where(CoordinatorZone.zone == zone)
        compiled = await cache.get(statement, FakeDriver())
        assert compiled.statement is statement
        assert compiled.arguments_for({}) == [zone]
    assert len(cache._compiled) <= driver.CACHE_LIMIT
    await engine.dispose()


async def test_a_connection_killed_under_a_statement_is_thrown_away_and_the_read_retried(
    db: Database,
) -> None:
    engine = db.engine
    opened = 0

    def count(*_args: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(engine.sync_engine, "connect", count)
    attempts: list[int] = []

    async def dies_once(connection: Statements) -> int:
        pid = int((await connection.execute(text("SELECT pg_backend_pid()"), {})).scalar())
        attempts.append(pid)
        if len(attempts) == 1:
            await connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"), {})
        return pid

    survivor = await db.read(dies_once)
    assert len(attempts) == 2
    assert survivor != attempts[0]
    # The dead connection went nowhere: the reads after it (one at a time, so one connection
    # serves them) all use the one that replaced it.
    again = [await db.read(_pid) for _ in range(6)]
    assert set(again) == {survivor}
    assert opened == 2  # the first, and the one that replaced it


async def _pid(connection: Statements) -> int:
    return int((await connection.execute(text("SELECT pg_backend_pid()"), {})).scalar())


async def test_a_read_cancelled_mid_statement_does_not_hand_its_connection_on(
    db: Database,
) -> None:
    """A cancelled update (its task stopped half-way through a statement) leaves asyncpg's
    connection mid-conversation; it is closed, not put back for the next update."""
    started = asyncio.Event()
    pids: list[int] = []

    async def slow(connection: Statements) -> None:
        pids.append(await _pid(connection))
        started.set()
        await connection.execute(text("SELECT pg_sleep(30)"), {})

    task = asyncio.create_task(db.read(slow))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await asyncio.gather(*(db.read(_pid) for _ in range(4)))
    assert pids[0] not in after
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_lone_write_that_conflicts_is_not_retried_or_thrown_away(db: Database) -> None:
    """A plain refusal (here a foreign key: no such person) is the statement's, not the
    connection's: it is raised at once, and the connection goes back to the pool."""
    async with db.sessions() as session:
        found = await make_event(session, now=NOW)
    attempts = 0

    async def orphan(connection: Statements) -> Any:
        nonlocal attempts
        attempts += 1
        parameters = {"code": found.code, "person_id": 999_999, "now": NOW, "method": "code"}
        return await connection.execute(checkins._STATIC_CODE_CHECK_IN, parameters)

    before = await db.read(_pid)
    with pytest.raises(Exception, match="foreign key") as raised:
        await db.write_alone(orphan)
    assert getattr(raised.value, "sqlstate", None) == "23503"
    assert attempts == 1
    assert await db.read(_pid) == before  # the same connection, back in the pool


async def test_injected_latency_delays_these_statements_too(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASA_DB_LATENCY_MS (the fault tests' slow database) applies here as it does to
    SQLAlchemy's statements: a read of one statement takes at least that long."""
    monkeypatch.setenv(LATENCY_ENV, "300")
    engine = create_engine(database_url)
    try:
        slow = Database(session_factory(engine))
        await slow.read(_pid)  # the first use learns the statement's types
        started = time.monotonic()
        await slow.read(_pid)
        assert time.monotonic() - started >= 0.3
    finally:
        await engine.dispose()


async def test_echo_logs_these_statements_without_their_parameters(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`[database] echo` shows every statement, these included; a parameter (a Telegram id
    here, a name or phone elsewhere) never reaches the log."""
    engine = create_engine(database_url, echo=True)
    try:
        echoing = Database(session_factory(engine))
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"):
            await echoing.read(
                lambda connection: connection.execute(
                    select(Person.id).where(Person.telegram_id == bindparam("tid")),
                    {"tid": TELEGRAM_ID},
                )
            )
    finally:
        await engine.dispose()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "SELECT person.id" in logged
    assert "sent to asyncpg" in logged
    assert str(TELEGRAM_ID) not in logged
