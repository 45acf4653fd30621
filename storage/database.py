"""The async engine and sessions, for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]

SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_POOL_TIMEOUT_SECONDS = 60


class DatabaseError(Exception):
    """The database cannot be used; the message is one sentence with the fix."""


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


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An async engine with the settings each database needs."""
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        return _sqlite_engine(parsed, echo=echo)
    return create_async_engine(
        parsed, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


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
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=1,
        max_overflow=0,
        pool_timeout=SQLITE_POOL_TIMEOUT_SECONDS,
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
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
    """Start every transaction as IMMEDIATE so writers queue on the busy timeout."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


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
