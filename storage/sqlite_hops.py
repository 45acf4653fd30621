"""One thread hop per SQLite statement.

aiosqlite runs the sqlite3 connection on a thread of its own; every call crosses to that thread
and back (a queue, a wake-up, and the event loop's self-pipe). SQLAlchemy's adapter makes four
crossings per statement: create a cursor, execute, fetch the rows, close the cursor. On the
check-in path that was about 20 crossings, a third of asa's SQLite time (measured: 4.1-4.4 ms
of CPU per scope read and check-in with four, 2.8 with one). This cursor does all four in one
crossing and keeps what SQLAlchemy reads afterwards (description, rowcount, lastrowid) and the
rows. A rollback with no transaction open does not cross at all, and a transaction's
BEGIN IMMEDIATE crosses with its first statement rather than on its own.

It relies on aiosqlite's `Connection._execute` (run a function on the connection's thread) and
`_conn`, as SQLAlchemy's own adapter does for `isolation_level`; the whole suite runs on it, and
`tests/unit/test_hot_path.py` checks the statements and results of the hottest path.
"""

from __future__ import annotations

import collections
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import EMPTY_DICT

# How asa begins every SQLite transaction (storage/database.py, _sqlite_begin).
BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"

# aiosqlite connections whose BEGIN IMMEDIATE waits for the transaction's first statement. A
# set beside the connections, because the adapter changes class in place and so cannot grow a
# slot of its own; weak, so a closed connection leaves it.
_begin_pending: weakref.WeakSet[Any] = weakref.WeakSet()


def _take_pending_begin(connection: Any) -> bool:
    """Whether `connection` owes a BEGIN IMMEDIATE (and no longer does: the caller sends it)."""
    if connection in _begin_pending:
        _begin_pending.discard(connection)
        return True
    return False


class _Ran:
    """What SQLAlchemy reads from a cursor after executing, kept from a closed sqlite3 cursor."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self.arraysize = cursor.arraysize

    def close(self) -> None:
        """Already closed on the connection's thread."""


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """Create, execute, fetch and close in one call on aiosqlite's thread."""

    __slots__ = ()
    _awaitable_cursor_close = False  # nothing left to close on the thread

    def __init__(self, adapt_connection: Any) -> None:  # no cursor made up front
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _NOT_RUN
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        if operation == BEGIN_IMMEDIATE:
            # Sent with the first statement, in its crossing: the write lock is taken in the
            # same call on the thread, so nothing can come between it and that statement.
            _begin_pending.add(self._connection)
            self._cursor = _NOT_RUN
            return _NOT_RUN
        sqlite = self._connection._conn
        arguments = () if parameters is None else parameters
        begin = _take_pending_begin(self._connection)

        def run() -> tuple[_Ran, list[Any] | None]:
            if begin:
                sqlite.execute(BEGIN_IMMEDIATE)
            cursor = sqlite.execute(operation, arguments)
            try:
                rows = cursor.fetchall() if cursor.description else None
                return _Ran(cursor), rows
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            ran, rows = await self._connection._execute(run)
        self._cursor = ran
        if rows is not None:
            self._rows = collections.deque(rows)
        return ran

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        sqlite = self._connection._conn
        begin = _take_pending_begin(self._connection)

        def run() -> _Ran:
            if begin:
                sqlite.execute(BEGIN_IMMEDIATE)
            cursor = sqlite.executemany(operation, seq_of_parameters)
            try:
                return _Ran(cursor)
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            self._cursor = await self._connection._execute(run)
        return self._cursor


class _NotRun:
    """A cursor that has not executed: nothing to describe, nothing to close."""

    description = None
    rowcount = -1
    lastrowid = None
    arraysize = 1

    def close(self) -> None:
        """Nothing to close."""


_NOT_RUN: Any = _NotRun()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection, making `OneHopCursor`s, and not crossing to the
    thread to commit or roll back when there is nothing to commit or roll back."""

    __slots__ = ()
    _cursor_cls = OneHopCursor

    def commit(self) -> None:
        """A transaction that ran no statement never began on SQLite: nothing to commit."""
        if _take_pending_begin(self._connection):
            return
        super().commit()

    def rollback(self) -> None:
        """SQLAlchemy rolls back when a read's connection closes and when the pool takes a
        connection back, after a commit too: two of the seven crossings of a check-in, each
        for nothing (no transaction was open). sqlite3's own rollback does nothing then either
        (it checks `in_transaction`, which reads SQLite's autocommit flag, as we do here); the
        connection is idle on its thread meanwhile, since the pool hands it to one user. A
        BEGIN still waiting for a statement is forgotten: that transaction never began."""
        _take_pending_begin(self._connection)
        sqlite = self._connection._connection  # None once closed (then the adapter decides)
        if sqlite is not None and not sqlite.in_transaction:
            return
        super().rollback()


def _use_one_hop_cursors(dbapi_connection: Any, _record: Any) -> None:
    # Same layout (no new slots), so the connection can change class in place.
    dbapi_connection.__class__ = OneHopConnection


def install(engine: AsyncEngine) -> None:
    """Give every connection `engine` opens the one-hop cursor (before other connect hooks)."""
    event.listen(engine.sync_engine, "connect", _use_one_hop_cursors, insert=True)
