"""The hottest statements, sent on PostgreSQL straight to asyncpg.

Every update reads its sender, and a typed-code check-in is one statement more. Through
SQLAlchemy's execution of each (a Connection, an execution context, a cursor result, a greenlet
crossing per statement) the two cost 1.00 ms of CPU; sent here, 0.48 ms (in process, the
median of 3 rounds of 1,500 check-ins 32 at a time; README, Performance). `Database.read` and
`Database.write_alone` therefore hand their work, on PostgreSQL, a `DriverStatements` instead
of an `AsyncConnection`. Both satisfy `Statements`, so the work is written once, with Core
statements, and runs unchanged on SQLite or inside a transaction.

What is kept from SQLAlchemy: the SQL (each statement is compiled once, by the engine's
dialect), the types' own conversions of parameters and results (an aware UTC datetime in and
out, JSON decoded), the pool (connections are the pool's, counted in its size) and rows read
by attribute. What it would otherwise give and is given here instead: statement listeners
(`listen`), ASA_DB_LATENCY_MS's delay (`latency_seconds`), `[database] echo`'s log, and a
broken connection thrown away rather than returned to the pool (`Database`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

# SQLAlchemy's own logger for statements, which `[database] echo` turns on.
_echo_log = logging.getLogger("sqlalchemy.engine.Engine")

# Compiled statements kept per Database; the hot path has a handful, so reaching this many
# means statements are being built per call, and the cache starts again rather than grow.
CACHE_LIMIT = 256

StatementListener = Callable[[str], None]
_listeners: WeakKeyDictionary[Engine, list[StatementListener]] = WeakKeyDictionary()


class Rows(Protocol):
    """A statement's result, as much of SQLAlchemy's `Result` as this path offers."""

    def first(self) -> Any:
        """The first row, or None."""
        ...  # pragma: no cover - protocol

    def all(self) -> Sequence[Any]:
        """Every row."""
        ...  # pragma: no cover - protocol

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        ...  # pragma: no cover - protocol


class Statements(Protocol):
    """Where `Database.read` and `Database.write_alone` work runs its Core statements: a
    SQLAlchemy `AsyncConnection` (SQLite, or a session's connection inside a transaction) or a
    `DriverStatements` (PostgreSQL outside any transaction)."""

    @property
    def dialect(self) -> Dialect:
        """The database's dialect (`dialect.name` is "postgresql" or "sqlite")."""
        ...  # pragma: no cover - protocol

    async def execute(self, statement: Executable, parameters: Mapping[str, Any], /) -> Rows:
        """Run one statement with these parameters."""
        ...  # pragma: no cover - protocol


def listen(engine: AsyncEngine, listener: StatementListener) -> None:
    """Call `listener(sql)` before every statement sent past SQLAlchemy on this engine (its
    own `before_cursor_execute` event sees the rest)."""
    _listeners.setdefault(engine.sync_engine, []).append(listener)


def remove(engine: AsyncEngine, listener: StatementListener) -> None:
    """Stop calling `listener`."""
    _listeners.get(engine.sync_engine, []).remove(listener)


class _Required:
    """The mark of a parameter the caller must give (a bindparam without a value)."""


_REQUIRED = _Required()


@dataclass(frozen=True)
class _Argument:
    """One positional parameter: its name, its compiled-in value or _REQUIRED, and its type's
    conversion for this dialect."""

    name: str
    value: Any
    convert: Callable[[Any], Any] | None


@dataclass(frozen=True)
class CompiledStatement:
    """A Core statement compiled for asyncpg: its SQL, how to order and convert its
    parameters, and how to build its rows. `converts` is None until the result's column types
    are known (`learned`): some of SQLAlchemy's conversions depend on the type PostgreSQL
    sends (a float or a numeric for a Float column)."""

    statement: Executable  # kept so that its id, the cache's key, cannot be reused
    sql: str
    arguments: tuple[_Argument, ...]
    columns: tuple[Any, ...]
    row: Callable[..., Any] | None
    converts: tuple[Callable[[Any], Any] | None, ...] | None

    def arguments_for(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for these parameters, converted as SQLAlchemy would."""
        values: list[Any] = []
        for argument in self.arguments:
            value = argument.value
            if value is _REQUIRED:
                try:
                    value = parameters[argument.name]
                except KeyError:
                    missing = f"the statement needs the parameter {argument.name!r}"
                    raise TypeError(missing) from None
            values.append(argument.convert(value) if argument.convert is not None else value)
        return values

    def learned(self, type_oids: Sequence[int], dialect: Dialect) -> CompiledStatement:
        """This statement with its result conversions, given the types of its columns."""
        if self.row is None:
            return replace(self, converts=())
        converts = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, oid)
            for column, oid in zip(self.columns, type_oids, strict=True)
        )
        return replace(self, converts=converts)

    def rows_of(self, records: Sequence[Any]) -> list[Any]:
        """asyncpg's records as rows read by attribute, each value converted as SQLAlchemy's
        result would (a textual statement's, whose columns are not known, as they come)."""
        if not records:
            return []
        if self.row is None:
            untyped = namedtuple("Row", list(records[0].keys()), rename=True)  # type: ignore[misc]
            return [untyped(*record) for record in records]
        converts = self.converts or ()
        return [
            self.row(
                *(
                    value if convert is None or value is None else convert(value)
                    for value, convert in zip(record, converts, strict=True)
                )
            )
            for record in records
        ]


def compile_for_driver(statement: Executable, dialect: Dialect) -> CompiledStatement:
    """Compile `statement` once for asyncpg, refusing what this path cannot send as is (a
    parameter expanded at execution, such as IN with a list)."""
    if not isinstance(statement, ClauseElement):
        raise TypeError(f"not a Core statement: {type(statement).__name__}")
    compiled = statement.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):  # pragma: no cover - DDL is never sent here
        raise TypeError("not a SQL statement")
    sql = str(compiled)
    if "__[POSTCOMPILE" in sql:
        raise ValueError("a statement with parameters expanded at execution cannot be sent here")
    arguments = tuple(
        _argument(name, compiled.binds[name], dialect) for name in compiled.positiontup or ()
    )
    columns = tuple(getattr(statement, "exported_columns", ()))
    if not columns:
        return CompiledStatement(statement, sql, arguments, (), None, ())
    row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
    return CompiledStatement(statement, sql, arguments, columns, row, None)


def _argument(name: str, bind: Any, dialect: Dialect) -> _Argument:
    """A parameter as `CompiledStatement.arguments_for` needs it."""
    convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
    value = _REQUIRED if bind.required else bind.effective_value
    return _Argument(name, value, convert)


class StatementCache:
    """Each statement compiled once per engine (statements are built once, at import), and
    its result's column types asked of PostgreSQL once (a prepare, on its first use)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[int, CompiledStatement] = {}

    async def get(self, statement: Executable, driver: Any) -> CompiledStatement:
        """The compiled statement, compiled now if this is its first use. An entry keeps its
        statement alive, so no other statement can have that id while the entry is here."""
        found = self._compiled.get(id(statement))
        if found is not None:
            return found
        compiled = compile_for_driver(statement, self.dialect)
        prepared = await driver.prepare(compiled.sql)
        oids = [attribute.type.oid for attribute in prepared.get_attributes()]
        learned = compiled.learned(oids, self.dialect)
        if len(self._compiled) >= CACHE_LIMIT:
            self._compiled.clear()
        self._compiled[id(statement)] = learned
        return learned


@dataclass(frozen=True)
class DriverRows:
    """A statement's rows, read by attribute as SQLAlchemy's are."""

    rows: list[Any]

    def first(self) -> Any:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def all(self) -> list[Any]:
        """Every row."""
        return self.rows

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self.rows[0][0] if self.rows else None


class DriverStatements:
    """A pooled PostgreSQL connection's asyncpg connection, outside any transaction: each
    statement commits as it runs (what `Database.read` and `write_alone` promise)."""

    def __init__(
        self,
        driver: Any,
        *,
        engine: AsyncEngine,
        cache: StatementCache,
        latency_seconds: float = 0.0,
    ) -> None:
        self._driver = driver
        self._engine = engine
        self._cache = cache
        self._latency = latency_seconds

    @property
    def dialect(self) -> Dialect:
        """The engine's dialect."""
        return self._cache.dialect

    async def execute(self, statement: Executable, parameters: Mapping[str, Any], /) -> DriverRows:
        """Run the statement on asyncpg and return its rows."""
        compiled = await self._cache.get(statement, self._driver)
        arguments = compiled.arguments_for(parameters)
        for listener in _listeners.get(self._engine.sync_engine, ()):
            listener(compiled.sql)
        if self._engine.echo:
            _echo_log.info("%s [sent to asyncpg, parameters hidden]", compiled.sql)
        if self._latency:
            await asyncio.sleep(self._latency)
        records = await self._driver.fetch(compiled.sql, *arguments)
        return DriverRows(compiled.rows_of(records))
