"""What every update and every check-in costs the database, in statements.

The sender of each update is read in one statement and outside any transaction. A typed-code
check-in is one statement committed as it runs, with no BEGIN or COMMIT: on PostgreSQL the
event lookup and the INSERT in one CTE (the live screens hear of it from the checkin table's
trigger, not from a NOTIFY of ours), on SQLite an INSERT ... SELECT. With webhook mode's
replay stamp it is one transaction (on SQLite of two statements, whose BEGIN IMMEDIATE goes
with the first). These tests count them, so a change that adds a round trip to the hottest
path fails here rather than quietly in `make bench`; and they check that the one-statement
read gives the same actor the separate reads gave.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import live
from bot.services.access import Role
from bot.services.checkins import WrongCodeLimiter
from bot.usecases import checkin as checking
from bot.usecases.scope import resolve_actor, save_flow
from storage import driver
from storage.database import (
    Database,
    NestedSession,
    before_commit,
    create_engine,
    session_factory,
    session_is_open,
)
from storage.driver import Statements
from storage.models import ChatState, CheckIn, CoordinatorZone, Person
from tests.factories import grant, make_event, make_person

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TELEGRAM_ID = 777_001


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def db(engine: AsyncEngine) -> Database:
    return Database(session_factory(engine))


def _words(statement: str) -> str:
    return " ".join(statement.split()[:3]).upper()


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement the engine sends while the block runs (SQL keywords, upper-cased),
    through SQLAlchemy or straight to asyncpg."""
    seen: list[str] = []

    def sent(statement: str) -> None:
        seen.append(_words(statement))

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    driver.listen(engine, sent)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)
        driver.remove(engine, sent)


@contextmanager
def past_sqlalchemy(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements sent straight to asyncpg while the block runs (storage/driver.py)."""
    seen: list[str] = []

    def note(statement: str) -> None:
        seen.append(_words(statement))

    driver.listen(engine, note)
    try:
        yield seen
    finally:
        driver.remove(engine, note)


async def resolve(db: Database, telegram_id: int = TELEGRAM_ID) -> Any:
    actor, _stale = await resolve_actor(
        db,
        telegram_id=telegram_id,
        config_admins=(),
        default_language="th",
        now=NOW,
        timeout_of=lambda name: timedelta(minutes=30),
        update_id=1,
    )
    return actor


async def test_the_sender_is_read_in_one_statement_without_a_transaction(
    db: Database, engine: AsyncEngine
) -> None:
    async with db.sessions() as session:
        person = await make_person(session, telegram_id=TELEGRAM_ID, full_name="สมศรี ใจดี")
        await grant(session, person, Role.STAFF)
        await grant(session, person, Role.ORGANISER)
    await save_flow(
        db, telegram_id=TELEGRAM_ID, flow="checkin_code", step="code", nonce="n1", draft={}, now=NOW
    )
    with statements(engine) as seen:
        actor = await resolve(db)
    assert seen == ["SELECT PERSON.ID, PERSON.FULL_NAME,"]  # no BEGIN, no second read
    assert actor.person_id == person.id
    assert actor.name == "สมศรี ใจดี"
    assert actor.access.roles == frozenset({Role.STAFF, Role.ORGANISER})
    assert actor.flow is not None
    assert actor.flow.name == "checkin_code"


async def test_a_stranger_and_an_erased_person_are_not_registered(db: Database) -> None:
    async with db.sessions() as session:
        erased = await make_person(session, telegram_id=TELEGRAM_ID + 1)
        erased.erased_at = NOW
        session.add(erased)
        await session.commit()
    for telegram_id in (TELEGRAM_ID, TELEGRAM_ID + 1):
        actor = await resolve(db, telegram_id)
        assert not actor.registered
        assert actor.access.roles == frozenset()
        assert actor.flow is None


async def test_a_coordinator_costs_one_more_statement_for_their_zones(
    db: Database, engine: AsyncEngine
) -> None:
    async with db.sessions() as session:
        person = await make_person(session, telegram_id=TELEGRAM_ID)
        await grant(session, person, Role.COORDINATOR)
        session.add(CoordinatorZone(person_id=person.id or 0, zone=3))
        session.add(CoordinatorZone(person_id=person.id or 0, zone=4))
        await session.commit()
    with statements(engine) as seen:
        actor = await resolve(db)
    assert len(seen) == 2
    assert actor.access.coordinator_zones == frozenset({3, 4})
    assert actor.zone_limit() == frozenset({3, 4})


async def test_a_read_holds_no_transaction(db: Database, database_url: str) -> None:
    """Database.read begins no transaction: on PostgreSQL two statements get two transaction
    ids; on SQLite another writer can take the write lock while the read is open (every
    transaction here begins IMMEDIATE, so one would hold it)."""

    async def inside(connection: Statements) -> bool:
        await connection.execute(select(Person.id), {})  # the read's connection has run a statement
        if connection.dialect.name == "postgresql":
            query = text("SELECT txid_current()")
            first, second = [(await connection.execute(query, {})).scalar() for _ in range(2)]
            return bool(first != second)
        other = sqlite3.connect(database_url.split("///", 1)[1], timeout=0.2)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the read held it
            other.rollback()
        finally:
            other.close()
        return True

    assert await db.read(inside)


async def test_a_timed_out_flow_is_dropped_unless_it_moved_on(db: Database) -> None:
    await save_flow(
        db,
        telegram_id=TELEGRAM_ID,
        flow="checkin_code",
        step="code",
        nonce="old",
        draft={"phone": "0812340001"},
        now=NOW - timedelta(hours=2),
    )
    actor = await resolve(db)
    assert actor.flow is None
    assert actor.expired_flow == "checkin_code"
    async with db.sessions() as session:
        state = await session.get(ChatState, TELEGRAM_ID)
        assert state is not None
        assert (state.flow, state.nonce, state.draft) == (None, None, {})
    # Said once: the next update finds no flow and nothing expired.
    again = await resolve(db)
    assert again.flow is None
    assert again.expired_flow is None


@contextmanager
def transaction_commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """PostgreSQL: the BEGINs and COMMITs the driver sends while the block runs (asyncpg sends
    them itself, so SQLAlchemy's statement events never see them)."""
    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def counted(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        word = query.split(None, 1)[0].rstrip(";").upper()
        if word in ("BEGIN", "COMMIT", "ROLLBACK"):
            sent.append(word)
        return await execute(self, query, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(asyncpg.Connection, "execute", counted)
        yield sent


async def typed_code_check_in(
    db: Database, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[str]]:
    """A registered person types an open event's code: the statements the engine sent, and on
    PostgreSQL the driver's BEGINs and COMMITs; the row is checked."""
    async with db.sessions() as session:
        await make_person(session, telegram_id=TELEGRAM_ID)
        found = await make_event(session, now=NOW)
        code = found.code
    actor = await resolve(db)
    sent: list[str] = []
    with statements(engine) as seen, contextlib.ExitStack() as stack:
        if engine.dialect.name == "postgresql":
            sent = stack.enter_context(transaction_commands(monkeypatch))
        result = await checking.with_code(
            db, actor=actor, code_text=code, now=NOW, limiter=WrongCodeLimiter()
        )
    async with db.sessions() as session:
        rows = (await session.exec(select(CheckIn))).all()
        person = (await session.exec(select(Person))).one()
    assert [(row.event_id, row.person_id, row.checked_in_at) for row in rows] == [
        (found.id, person.id, NOW)
    ]
    assert result.checked_in_at == NOW
    assert not rows[0].late
    return seen, sent


async def test_a_typed_code_check_in_is_one_statement_with_no_transaction_around_it(
    db: Database, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, sent = await typed_code_check_in(db, engine, monkeypatch)
    if engine.dialect.name == "postgresql":
        # The lookup and the INSERT in one statement, committed as it runs (autocommit): no
        # BEGIN, no COMMIT. The checkin table's trigger tells the live screens
        # (test_live_trigger), no NOTIFY statement of our own.
        assert (seen, sent) == (["WITH FOUND AS"], [])
    else:
        # The INSERT finds the event itself and runs as its own transaction: no BEGIN.
        assert seen == ["INSERT INTO CHECKIN"]


async def test_on_postgresql_the_sender_and_the_check_in_go_straight_to_asyncpg(
    db: Database, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy's execution of each (a connection, an execution context, a result) cost more
    CPU than the statement itself (storage/driver.py); the ORM's writes around them (making the
    person and the event here) still go through it. On SQLite everything does."""
    with past_sqlalchemy(engine) as straight:
        await typed_code_check_in(db, engine, monkeypatch)
    if engine.dialect.name == "postgresql":
        assert straight == ["SELECT PERSON.ID, PERSON.FULL_NAME,", "WITH FOUND AS"]
    else:
        assert straight == []


async def test_a_lone_check_in_tells_the_live_screens_once(db: Database) -> None:
    """Committed on its own, the check-in has no after-commit hook to tell the screens: on
    SQLite this process is told at once; on PostgreSQL the checkin table's trigger tells every
    process (test_live_trigger), so nothing is delivered here twice."""
    async with db.sessions() as session:
        await make_person(session, telegram_id=TELEGRAM_ID)
        found = await make_event(session, now=NOW)
        code, event_id = found.code, found.id
    actor = await resolve(db)
    heard: list[int] = []
    stop = live.subscribe(heard.append)
    try:
        await checking.with_code(
            db, actor=actor, code_text=code, now=NOW, limiter=WrongCodeLimiter()
        )
    finally:
        stop()
    assert heard == ([] if db.engine.dialect.name == "postgresql" else [event_id])


async def test_a_stamped_check_in_is_one_transaction_with_its_stamp(
    db: Database, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhook mode's replay stamp must commit with the check-in, so a stamped check-in is a
    transaction on PostgreSQL too: the same statement, then the stamp, then COMMIT."""
    stamped: list[str] = []

    async def stamp(session: AsyncSession) -> None:
        stamped.append("stamp")

    token = before_commit.set(stamp)
    try:
        seen, sent = await typed_code_check_in(db, engine, monkeypatch)
    finally:
        before_commit.reset(token)
    assert stamped == ["stamp"]
    if engine.dialect.name == "postgresql":
        assert seen == ["WITH FOUND AS"]
        assert [word for word in sent if word != "ROLLBACK"] == ["BEGIN", "COMMIT"]
    else:
        # BEGIN IMMEDIATE crosses to SQLite's thread with the SELECT (test_sqlite_hops).
        assert seen == ["BEGIN IMMEDIATE", "SELECT EVENT.ID, EVENT.TITLE,", "INSERT INTO CHECKIN"]


async def test_a_read_counts_as_the_tasks_session(db: Database) -> None:
    """The read's plain connection is a session as far as the one-session rule goes: another
    one opened inside it is refused (it would wait for itself on SQLite), and once the read
    returns, none is open (a Telegram call may follow)."""

    async def inside(connection: Statements) -> bool:
        assert session_is_open()
        with pytest.raises(NestedSession):
            async with db.sessions():
                pass
        return True

    assert not session_is_open()
    assert await db.read(inside)
    assert not session_is_open()


async def test_a_statement_past_the_orm_sees_the_transactions_own_changes(
    db: Database,
) -> None:
    """core_connection flushes what the session holds first, as the ORM's autoflush would: a
    code changed earlier in the same transaction is already the event's code."""
    async with db.sessions() as session:
        event = await make_event(session, now=NOW)
        old_code, event.code = event.code, "NEW123"
        session.add(event)  # pending in the session, not flushed
        assert await checking.checkins.event_for_code(session=session, code="NEW123", now=NOW)
        assert not await checking.checkins.event_for_code(session=session, code=old_code, now=NOW)
