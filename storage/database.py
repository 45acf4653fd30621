"""The async engine, sessions and transactions, for SQLite (embedded default) and PostgreSQL.

Everything that writes goes through `Database.run(work)`: one session, one transaction, committed
when `work` returns, rolled back when it raises. A transient failure (the server restarting, a
dropped connection, SQLite busy) is retried with backoff for a bounded time, so an update that
arrives during a short outage takes effect when the database is back; after that, the caller
gets `DatabaseUnavailable` and can say honestly that nothing was recorded.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Select, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only, greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_hops
from storage.driver import DriverStatements, StatementCache, Statements

_log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_POOL_TIMEOUT_SECONDS = 60
# How long a transaction is retried through an outage before the caller is told it failed.
DEFAULT_RETRY_SECONDS = 45.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 2.0
# Opt-in fault injection for tests and benchmarks: this many milliseconds are added (without
# blocking the event loop) before every statement and commit.
LATENCY_ENV = "ASA_DB_LATENCY_MS"
# The connection option of `Database.read` and `write_alone` on SQLite, whose statements run
# outside any transaction: our own flag, since changing pysqlite's isolation level would cost
# thread hops and undo the isolation_level=None that _sqlite_pragmas sets. (On PostgreSQL they
# run on asyncpg's own connection, which begins no transaction: storage/driver.py.)
UNBEGUN_OPTION = "asa_unbegun"
UNBEGUN: dict[str, Any] = {UNBEGUN_OPTION: True}

# SQLSTATE classes and codes that mean "try again": connection trouble, the server shutting
# down or starting, too many connections, serialization failures and deadlocks.
_TRANSIENT_SQLSTATE_PREFIXES = ("08",)
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
_SQLITE_BUSY_HINTS = ("database is locked", "database is busy", "database table is locked")

# How many sessions this task has open; a second one would wait for itself on SQLite's single
# pooled connection, and a Telegram call while one is open stalls everyone else.
_open_sessions: ContextVar[int] = ContextVar("asa_open_sessions", default=0)


class DatabaseError(Exception):
    """The database cannot be used; the message is one sentence with the fix."""


class DatabaseUnavailable(Exception):
    """The database did not answer within the retry budget; nothing was recorded."""


class NestedSession(RuntimeError):
    """A session was opened while this task already holds one (a programming error)."""


def parse_url(url: str) -> URL:
    """The URL, checked to be one of the two async drivers we support."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseError(
            f"[database] url {url!r} is not a database URL: use sqlite+aiosqlite:///path.db "
            "or postgresql+asyncpg://user@host/db."
        ) from error
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise DatabaseError(
            f"[database] url uses the driver {parsed.drivername!r}; use sqlite+aiosqlite:// or "
            "postgresql+asyncpg://."
        )
    return parsed


SelectT = TypeVar("SelectT", bound=Select[Any])


def skipping_locked_rows(pick: SelectT, session: AsyncSession) -> SelectT:
    """The rows a worker claims from a queue table (inbox, outbox) that several replicas work
    from: on PostgreSQL each skips the rows another is claiming (FOR UPDATE SKIP LOCKED) rather
    than waiting on them; on SQLite, BEGIN IMMEDIATE already makes the claim atomic."""
    if session.get_bind().dialect.name == "postgresql":
        return pick.with_for_update(skip_locked=True)
    return pick


async def transaction_lock(session: AsyncSession, key: int) -> None:
    """Hold PostgreSQL's advisory lock `key` until this transaction ends, so processes doing
    the same work take turns; on SQLite every transaction already holds the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(  # type: ignore[call-overload]
            text("SELECT pg_advisory_xact_lock(:key)"), params={"key": key}
        )


def is_sqlite(engine: AsyncEngine) -> bool:
    """True for the embedded SQLite database."""
    return engine.dialect.name == "sqlite"


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, statement_cache_size: int | None = None
) -> AsyncEngine:
    """An async engine with the settings each database needs.

    Statement parameters (names, phone numbers) never reach logs or error texts
    (`hide_parameters`), with or without `echo`.
    """
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        engine = _sqlite_engine(parsed, echo=echo)
    else:
        connect_args: dict[str, Any] = {}
        if statement_cache_size is not None:
            connect_args["statement_cache_size"] = statement_cache_size
        # No pool_pre_ping: a dead pooled connection fails its first statement, which
        # Database.run retries on a fresh one; pinging first would cost a round trip each time.
        # No overflow: a connection opened for a burst is closed when it comes back to a full
        # pool, so every burst paid for new ones (five bursts of 80 statements opened 60 for a
        # pool of 10), each a server process to start, a handshake and its statements prepared
        # again; waiting a moment for one of the pool's own is cheaper.
        engine = create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            pool_size=pool_size,
            max_overflow=0,
            connect_args=connect_args,
        )
    _inject_latency(engine)
    return engine


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    """SQLite with WAL, foreign keys and a busy timeout on every connection."""
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # Every transaction takes SQLite's write lock (see _sqlite_begin), so only one can run at a
    # time anyway. With one pooled connection, the others wait for it in asyncio's queue and
    # start the moment it is free, instead of sleeping and polling in SQLite's busy handler
    # (measured: several times the throughput under a burst of check-ins). Other processes
    # (`python -m bot migrate`, tools) still meet the busy timeout.
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=1,
        max_overflow=0,
        pool_timeout=SQLITE_POOL_TIMEOUT_SECONDS,
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    sqlite_hops.install(engine)
    # pysqlite's own transaction handling defers BEGIN until the first write, which lets two
    # writers both read then both try to write; we emit BEGIN ourselves (SQLAlchemy's
    # documented recipe) so the busy timeout applies from the start of a transaction.
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL for concurrent readers, enforced foreign keys, wait instead of failing when busy."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Start every transaction as IMMEDIATE so writers queue on the busy timeout; a read
    through `Database.read` begins none (pysqlite's isolation_level=None then runs each
    statement as its own transaction)."""
    if connection.get_execution_options().get(UNBEGUN_OPTION):
        return
    connection.exec_driver_sql(sqlite_hops.BEGIN_IMMEDIATE)  # crosses with the first statement


def injected_latency_seconds() -> float:
    """ASA_DB_LATENCY_MS in seconds (0 when unset)."""
    return max(0.0, float(os.environ.get(LATENCY_ENV) or 0) / 1000)


def _inject_latency(engine: AsyncEngine) -> None:
    """With ASA_DB_LATENCY_MS set, every statement and commit waits that long first (the
    statements sent past SQLAlchemy wait in `DriverStatements`)."""
    seconds = injected_latency_seconds()
    if seconds <= 0:
        return

    def pause(*_args: Any, **_kwargs: Any) -> None:
        # Called inside SQLAlchemy's greenlet: await_only suspends this statement without
        # blocking the event loop, as a slow network would.
        await_only(asyncio.sleep(seconds))

    event.listen(engine.sync_engine, "before_cursor_execute", pause)
    event.listen(engine.sync_engine, "commit", pause)


@contextmanager
def single_process(url: str) -> Iterator[None]:
    """While running on SQLite, hold an exclusive lock beside the database file: a second
    process on the same file (a second replica) is refused in one sentence. SQLite serves one
    process; replicas share PostgreSQL."""
    parsed = parse_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        yield
        return
    lock_path = Path(f"{parsed.database}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseError(
                f"Another asa process already runs on the SQLite database {parsed.database}: "
                "SQLite serves one process, so run several replicas on PostgreSQL "
                "([database] url = postgresql+asyncpg://...)."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit, and count themselves open."""
    return async_sessionmaker(engine, class_=TrackedSession, expire_on_commit=False)


async def check_connection(engine: AsyncEngine) -> None:
    """Raise DatabaseError with one sentence if the database cannot be reached."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError, OSError) as error:
        raise DatabaseError(
            f"Cannot reach the database at {engine.url.render_as_string(hide_password=True)} "
            f"({type(error).__name__}): check [database] url or DATABASE_URL and that the "
            "server is running."
        ) from error


# ---------------------------------------------------------------------------------------------
# Transactions with retry


def is_transient(error: BaseException) -> bool:
    """Whether trying the same transaction again later may succeed."""
    if isinstance(error, OSError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
        if isinstance(state, str) and (
            state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
        ):
            return True
        message = str(original).lower()
        if isinstance(error, OperationalError) and any(h in message for h in _SQLITE_BUSY_HINTS):
            return True
        return "connection was closed" in message or "connection is closed" in message
    return _is_asyncpg_connection_error(error)


def _is_asyncpg_connection_error(error: BaseException) -> bool:
    """asyncpg's own errors, raised unwrapped while a connection is being made."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    if isinstance(error, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and (
        state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    )


def session_is_open() -> bool:
    """Whether the current task holds a database session right now."""
    return _open_sessions.get() > 0


def _enter_session() -> None:
    """Count a session (or a read's connection) open in this task, refusing a second one."""
    if _open_sessions.get() > 0:
        raise NestedSession(
            "a database session was opened while this task already holds one; on SQLite "
            "it would wait for itself (see CONTRIBUTING.md, one session at a time)"
        )
    _open_sessions.set(_open_sessions.get() + 1)


def _leave_session() -> None:
    _open_sessions.set(max(0, _open_sessions.get() - 1))


@contextmanager
def _counted_session() -> Iterator[None]:
    """A read's connection counts as the task's session while it is open."""
    _enter_session()
    try:
        yield
    finally:
        _leave_session()


class TrackedSession(AsyncSession):
    """A session that knows it is open in this task, and refuses to be the second one."""

    async def __aenter__(self) -> TrackedSession:
        _enter_session()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.close()
        finally:
            _leave_session()


# Work to add to every transaction this task commits (webhook mode stamps the update that
# caused it: bot/intake.py); None almost always.
BeforeCommit = Callable[[AsyncSession], Awaitable[None]]
before_commit: ContextVar[BeforeCommit | None] = ContextVar("asa_before_commit", default=None)

AfterCommit = Callable[[], None]
_AFTER_COMMIT_KEY = "asa_after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the transaction this session is in has committed (not on rollback)."""
    callbacks: list[AfterCommit] = session.info.setdefault(_AFTER_COMMIT_KEY, [])
    if callback not in callbacks:
        callbacks.append(callback)


async def core_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, for a hot statement run past the ORM (the ORM's execution
    path cost more CPU than the statement), with what the session holds flushed first, as the
    ORM's autoflush would: the statement sees the transaction's own changes."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return await session.connection()


def _breaks_connection(error: BaseException, driver: Any) -> bool:
    """Whether a connection that raised `error` must not be used again: it is closed, the
    failure is the connection's or the server's (transient), or the statement was interrupted
    half-way (a cancelled task), leaving the protocol in an unknown state."""
    if isinstance(error, asyncio.CancelledError):
        return True
    return bool(driver.is_closed()) or is_transient(error)


def describe(error: BaseException) -> str:
    """An error's class and, where there is one, PostgreSQL's SQLSTATE (53300: too many
    connections, 57P01: server shut down...) or the OS error's name: what an operator needs,
    and never a statement's parameters or a message that could quote personal data."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if code is None and isinstance(cause, OSError) and cause.errno is not None:
        code = errno.errorcode.get(cause.errno)
    name = type(error).__name__
    return f"{name} {code}" if code else name


class Database:
    """Runs units of work, each in one transaction, retrying through short outages."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.sessions = sessions
        self.engine: AsyncEngine = sessions.kw["bind"]
        self.retry_seconds = retry_seconds
        self._sleep = sleep
        self._latency_seconds = injected_latency_seconds()
        # PostgreSQL's reads and lone writes go straight to asyncpg (storage/driver.py).
        self._driver_statements = (
            StatementCache(self.engine.dialect)
            if self.engine.dialect.name == "postgresql"
            else None
        )

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, stamped: bool = True) -> T:
        """`work(session)` in one transaction, committed when it returns.

        A transient failure rolls the transaction back and runs `work` again from the start
        (so it must not have effects outside the session), with backoff, for up to
        `retry_seconds`; then DatabaseUnavailable. Any other exception propagates at once.
        `stamped=False`: the transaction records no effect of the update being processed, so
        `before_commit` (webhook mode's replay stamp) is not added to it.
        """
        return await self._retrying(lambda: self._once(work, stamped=stamped))

    async def read(self, work: Callable[[Statements], Awaitable[T]]) -> T:
        """`work(statements)` with no transaction around it: each statement is its own.

        For reads whose statements need not agree with each other (one statement, mostly),
        run so often that BEGIN and COMMIT are a large share of their cost: two round trips on
        PostgreSQL; on SQLite two thread hops, and the write lock every transaction here takes
        (see _sqlite_begin). The work gets `Statements`, not an ORM session: Core statements
        only, and no session to build, begin and close (measured: the sender read of every
        update cost 0.4 ms less CPU on PostgreSQL); on PostgreSQL they go straight to asyncpg
        (`storage.driver`). Never stamped (it records nothing); retried as `run` is.
        """
        return await self._retrying(lambda: self._once_unbegun(work))

    def writes_alone(self) -> bool:
        """Whether a write that is one statement may run on its own, committed as it runs
        (`write_alone`): when this task adds nothing to its transactions (webhook mode's replay
        stamp, `before_commit`, must be written with the update's effects)."""
        return before_commit.get() is None

    async def write_alone(self, work: Callable[[Statements], Awaitable[T]]) -> T:
        """`work(statements)` whose one write statement commits as it runs: no BEGIN or COMMIT
        around it (PostgreSQL: autocommit, two round trips fewer than `run`; SQLite: pysqlite
        without its own transactions runs the statement as one, taking the write lock only for
        it, one crossing to its thread instead of three). Only where `writes_alone()` holds.

        Retried through an outage as `run` is. A statement whose reply was lost may have
        committed, so its retry must be harmless twice (the check-in's conflict clause makes
        it so, and says "already checked in"); `run` has the same doubt about a lost COMMIT.
        """
        if not self.writes_alone():
            raise RuntimeError("write_alone while this task adds work to its transactions")
        return await self._retrying(lambda: self._once_unbegun(work))

    async def _retrying(self, attempt_once: Callable[[], Awaitable[T]]) -> T:
        """Retry transient failures with backoff for up to `retry_seconds`."""
        deadline = time.monotonic() + self.retry_seconds
        backoff = FIRST_BACKOFF_SECONDS
        attempt = 1
        while True:
            try:
                return await attempt_once()
            except Exception as error:
                if not is_transient(error):
                    raise
                if time.monotonic() + backoff > deadline:
                    _log.error(
                        "database unavailable after %d attempts (%s); giving up",
                        attempt,
                        describe(error),
                    )
                    raise DatabaseUnavailable(type(error).__name__) from error
                _log.warning(
                    "database trouble (%s), attempt %d; retrying in %.1f s",
                    describe(error),
                    attempt,
                    backoff,
                )
            await self._sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            attempt += 1

    async def _once_unbegun(self, work: Callable[[Statements], Awaitable[T]]) -> T:
        """One attempt of work outside any transaction."""
        with _counted_session():
            if self._driver_statements is not None:
                return await self._once_on_driver(work, self._driver_statements)
            async with self.engine.connect() as connection:
                unbegun = await connection.execution_options(**UNBEGUN)
                return await work(unbegun)

    async def _once_on_driver(
        self, work: Callable[[Statements], Awaitable[T]], cache: StatementCache
    ) -> T:
        """One attempt on a pooled connection's asyncpg connection (PostgreSQL). A connection
        that failed as a broken one does, or whose statement was interrupted, is thrown away
        rather than handed to the next update."""
        pooled = await self.engine.raw_connection()
        try:
            return await work(
                DriverStatements(
                    pooled.driver_connection,
                    engine=self.engine,
                    cache=cache,
                    latency_seconds=self._latency_seconds,
                )
            )
        except BaseException as error:
            if _breaks_connection(error, pooled.driver_connection):
                pooled.invalidate(error if isinstance(error, Exception) else None)
            raise
        finally:
            await greenlet_spawn(pooled.close)  # back to the pool (or, invalidated, dropped)

    async def _once(self, work: Callable[[AsyncSession], Awaitable[T]], *, stamped: bool) -> T:
        """One attempt: open, work, commit, close; then the after-commit callbacks."""
        async with self.sessions() as session:
            result = await work(session)
            stamp = before_commit.get() if stamped else None
            if stamp is not None:
                await stamp(session)
            await session.commit()
            callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
        for callback in callbacks:
            callback()
        return result
