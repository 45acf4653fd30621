"""What every benchmark shares: statistics, tables, scratch databases and bulk inserts."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Boolean, Table
from sqlalchemy.engine import make_url

from bench import lifecycle
from storage.types import UTCDateTime
from tests.database import PG_HOST_URL, create_schema, sqlite_url

DATABASES = ("sqlite", "postgresql")
MIB = 1024  # /proc reports kB; tables show MiB


class BenchError(Exception):
    """A benchmark could not run to the end; the message says what went wrong."""


# ---------------------------------------------------------------------------------------------
# Statistics


def median(values: Sequence[float]) -> float:
    """The median (nan for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile: the smallest value with `pct` % of values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, reference: float) -> float:
    """value / reference, nan when the reference is zero or unknown."""
    if not reference or math.isnan(reference):
        return math.nan
    return value / reference


# ---------------------------------------------------------------------------------------------
# Tables


def cores() -> int:
    """The machine's core count, printed next to every figure."""
    return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cores": cores(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def fmt(value: Any, digits: int = 1) -> str:
    """A cell: thousands separators for counts, fixed decimals for measurements."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isinf(value):
            return "no reply"  # a percentile that fell on a reply the deadline cut off
        return "-" if math.isnan(value) else f"{value:,.{digits}f}"
    return str(value)


def fmt_ratio(value: float) -> str:
    """A ratio with two decimals ("0.83")."""
    return "-" if math.isnan(value) else f"{value:.2f}"


@dataclass
class Report:
    """One benchmark's outcome: a table for people, `data` for tools (--json)."""

    name: str
    title: str
    database: str
    columns: list[str]
    rows: list[list[Any]]
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    # What a deadline cut short: the figures above are what was measured until then.
    incomplete: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every sanity check passed (the figures mean nothing otherwise)."""
        return all(self.checks.values())

    @property
    def complete(self) -> bool:
        """Whether every part ran to the end within its deadline."""
        return not self.incomplete

    def table(self) -> str:
        """A plain-text table with the core count and the database on top."""
        header = f"{self.title}  [database: {self.database}; {cores()} cores]"
        cells = [self.columns, *[[fmt(cell) for cell in row] for row in self.rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = [header, "=" * len(header)]
        for index, row in enumerate(cells):
            first = row[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join([first, *rest]).rstrip())
            if index == 0:
                lines.append("  ".join("-" * width for width in widths))
        for name, passed in self.checks.items():
            lines.append(f"check: {name}: {'ok' if passed else 'FAILED'}")
        lines.extend(f"INCOMPLETE: {what}" for what in self.incomplete)
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Everything measured, with raw numbers."""
        return {
            "benchmark": self.name,
            "database": self.database,
            "machine": machine(),
            "ok": self.ok,
            "complete": self.complete,
            "incomplete": self.incomplete,
            "checks": self.checks,
            "results": self.data,
            "notes": self.notes,
        }


# ---------------------------------------------------------------------------------------------
# Databases


@contextlib.asynccontextmanager
async def scratch_database(kind: str, *, schema: bool = True) -> AsyncIterator[str]:
    """A new database (with the schema, unless not wanted), removed afterwards.

    SQLite: a file in a temporary directory. PostgreSQL: a database named after this process
    (bench/lifecycle.py), dropped however the bench ends.
    """
    if kind not in DATABASES:
        raise BenchError(f"unknown database {kind!r}; use sqlite or postgresql")
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="asa-bench-") as directory:
            url = sqlite_url(Path(directory) / "bench.db")
            if schema:
                await create_schema(url)
            yield url
        return
    name = lifecycle.new_database_name()
    try:
        await lifecycle.create_database(name)
    except (OSError, asyncpg.PostgresError) as error:
        raise BenchError(
            f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error}); start it with "
            "`make postgres`, or run with --db sqlite"
        ) from error
    try:
        url = f"{PG_HOST_URL}/{name}"
        if schema:
            await create_schema(url)
        yield url
    finally:
        await lifecycle.drop_database(name)


def _dialect(url: str) -> str:
    """sqlite or postgresql."""
    return make_url(url).get_backend_name()


def _sqlite_path(url: str) -> str:
    """The file behind an SQLite URL."""
    database = make_url(url).database
    if not database:
        raise BenchError(f"{url} names no SQLite file")
    return database


def _asyncpg_dsn(url: str) -> str:
    """The plain libpq DSN of a SQLAlchemy asyncpg URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _plain(value: Any) -> Any:
    """Enum members as their stored strings (the drivers want plain values)."""
    return value.value if isinstance(value, Enum) else value


def _defaults(table: Table, given: Sequence[str]) -> dict[str, Any]:
    """Python-side defaults of the columns a loader leaves out (computed once per load)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column.default is None:
            continue
        default: Any = column.default
        if default.is_scalar:
            values[column.name] = _plain(default.arg)
        elif default.is_callable:
            values[column.name] = _plain(default.arg(None))
    return values


def _sqlite_datetime(value: datetime | None) -> str | None:
    """UTC as SQLAlchemy's SQLite dialect stores it (the ORM must read back what we write)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_converters(table: Table, columns: Sequence[str]) -> list[Callable[[Any], Any]]:
    """One converter per column: dates to text, booleans to 0/1, enums to strings."""
    converters: list[Callable[[Any], Any]] = []
    for name in columns:
        kind = table.columns[name].type
        if isinstance(kind, UTCDateTime):
            converters.append(_sqlite_datetime)
        elif isinstance(kind, Boolean):
            converters.append(lambda value: None if value is None else int(bool(value)))
        else:
            converters.append(_plain)
    return converters


async def bulk_insert(
    url: str, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Insert many rows at once, below the ORM: executemany on SQLite, COPY on PostgreSQL.

    Columns left out get their Python-side model defaults, so a loader keeps working when a
    column with a default is added to the model.
    """
    extra = _defaults(table, columns)
    names = [*columns, *extra]
    tail = tuple(extra.values())
    if _dialect(url) == "sqlite":
        converters = _sqlite_converters(table, names)
        prepared = (
            tuple(convert(value) for convert, value in zip(converters, row + tail, strict=True))
            for row in rows
        )
        await asyncio.to_thread(_sqlite_insert, _sqlite_path(url), table.name, names, prepared)
        return
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        records = (tuple(_plain(value) for value in row) + tail for row in rows)
        await connection.copy_records_to_table(table.name, records=records, columns=names)
    finally:
        await connection.close()


def _sqlite_insert(
    path: str, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """One transaction of executemany (journal sync off: a scratch database)."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        marks = ", ".join("?" for _ in columns)
        quoted = ", ".join(f'"{name}"' for name in columns)
        with connection:
            connection.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', rows)  # noqa: S608
    finally:
        connection.close()


async def finish_load(url: str, tables: Sequence[Table]) -> None:
    """After a bulk load: fresh planner statistics, and sequences past the ids we chose."""
    if _dialect(url) == "sqlite":
        await asyncio.to_thread(_sqlite_analyze, _sqlite_path(url))
        return
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for table in tables:
            if "id" in table.columns and table.columns["id"].autoincrement in (True, "auto"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "  # noqa: S608
                    f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
                )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def _sqlite_analyze(path: str) -> None:
    """ANALYZE, as a long-running database would have had."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("ANALYZE")
        connection.commit()
    finally:
        connection.close()
