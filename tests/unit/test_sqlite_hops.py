"""SQLite statements cross to aiosqlite's thread once each (storage/sqlite_hops.py), and
everything SQLAlchemy reads from a cursor still works: rows, rowcount, lastrowid, executemany,
errors, transactions. On its own SQLite file whatever database the suite runs on."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import UNBEGUN, create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    try:
        yield engine
    finally:
        await engine.dispose()


@contextmanager
def crossings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every call aiosqlite runs on its thread while the block runs."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(aiosqlite.Connection, "_execute", counted)
        yield seen


async def test_a_select_crosses_once(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the connection is open and warm
        with crossings(monkeypatch) as seen:
            rows = (await connection.execute(text("SELECT 1, 'a' UNION ALL SELECT 2, 'b'"))).all()
    assert [tuple(row) for row in rows] == [(1, "a"), (2, "b")]
    assert len(seen) == 1


async def test_writes_report_rowcount_lastrowid_and_returning(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert inserted.lastrowid == 1
        returned = await connection.execute(text("INSERT INTO t (v) VALUES ('y') RETURNING id"))
        assert returned.scalar_one() == 2
        many = await connection.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": "p"}, {"v": "q"}, {"v": "r"}]
        )
        assert many.rowcount == 3
        updated = await connection.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
        assert updated.rowcount == 3
    async with engine.connect() as connection:
        values = (await connection.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert values == ["x", "y", "p!", "q!", "r!"]


async def test_an_error_is_sqlalchemys_and_the_transaction_rolls_back(engine: AsyncEngine) -> None:
    async def insert_twice() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('same')"))
            await connection.execute(text("INSERT INTO t (v) VALUES ('same')"))

    with pytest.raises(exc.IntegrityError):
        await insert_twice()
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one()
    assert count == 0  # the first insert went with the failed transaction


async def test_nothing_to_roll_back_does_not_cross(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed transaction, then its connection going back to the pool (which rolls back
    to be safe): the commit crosses, the empty rollback does not. A read outside any
    transaction (Database.read's kind) crosses for its statement only."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the pool holds an open, warm connection
    with crossings(monkeypatch) as seen:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('kept')"))
    assert seen == ["run", "commit"]  # BEGIN IMMEDIATE with the INSERT, then COMMIT
    with crossings(monkeypatch) as seen:
        async with engine.connect() as connection:
            unbegun = await connection.execution_options(**UNBEGUN)
            await unbegun.execute(text("SELECT v FROM t"))
    assert seen == ["run"]


async def test_a_transaction_left_open_is_still_rolled_back(engine: AsyncEngine) -> None:
    """An open transaction (an exception before commit) is rolled back when its connection
    closes, so nothing half-written reaches the next user of the pooled connection."""

    async def fail_before_commit() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('half')"))
            raise RuntimeError("the work failed before commit")

    with pytest.raises(RuntimeError):
        await fail_before_commit()
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one()
    assert count == 0


def _other_writer_can_begin(path: Path) -> bool:
    """Whether another connection can take SQLite's write lock right now."""
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        return False
    else:
        other.rollback()
        return True
    finally:
        other.close()


async def test_begin_crosses_with_the_first_statement_and_takes_the_write_lock(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN IMMEDIATE goes in the first statement's crossing, and the write lock is held from
    that statement on, a read too: two transactions cannot both read and then both write."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the pool holds an open, warm connection
    with crossings(monkeypatch) as seen:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT count(*) FROM t"))
            assert seen == ["run"]
            assert not _other_writer_can_begin(tmp_path / "hops.db")
            await connection.execute(text("INSERT INTO t (v) VALUES ('w')"))
    assert seen == ["run", "run", "commit"]
    assert _other_writer_can_begin(tmp_path / "hops.db")


async def test_a_transaction_that_ran_nothing_crosses_nothing_and_leaves_nothing_open(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    with crossings(monkeypatch) as seen:
        async with engine.begin():
            pass
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await transaction.rollback()
    assert seen == []
    # The BEGIN that never went is not sent with the next, unbegun, statement either.
    async with engine.connect() as connection:
        unbegun = await connection.execution_options(**UNBEGUN)
        await unbegun.execute(text("SELECT v FROM t"))
        assert _other_writer_can_begin(tmp_path / "hops.db")


async def test_a_begin_that_cannot_take_the_lock_fails_its_first_statement_cleanly(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Another writer holds the lock past the busy timeout: the transaction's first statement
    raises SQLAlchemy's OperationalError, nothing is written, and the pooled connection is
    left with no transaction open, so it works once the lock is free."""
    holder = sqlite3.connect(tmp_path / "hops.db")
    holder.execute("BEGIN IMMEDIATE")
    try:
        async with engine.connect() as connection:
            unbegun = await connection.execution_options(**UNBEGUN)
            await unbegun.execute(text("PRAGMA busy_timeout = 50"))
            await connection.rollback()  # SQLAlchemy's autobegun (and unbegun) transaction
            with pytest.raises(exc.OperationalError, match="locked"):
                async with connection.begin():
                    await connection.execute(text("INSERT INTO t (v) VALUES ('blocked')"))
    finally:
        holder.rollback()
        holder.close()
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('later')"))
    async with engine.connect() as connection:
        values = (await connection.execute(text("SELECT v FROM t"))).scalars().all()
    assert values == ["later"]


async def test_a_transaction_opened_by_executemany_is_one_transaction(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """An executemany as a transaction's first statement carries the BEGIN too: the lock is
    held, and a failure later in the transaction takes its rows back with it."""

    async def insert_many_then_fail() -> None:
        async with engine.begin() as connection:
            rows = [{"v": "a"}, {"v": "b"}]
            await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), rows)
            assert not _other_writer_can_begin(tmp_path / "hops.db")
            raise RuntimeError("the work failed after the executemany")

    with pytest.raises(RuntimeError):
        await insert_many_then_fail()
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one()
    assert count == 0
