"""Nothing left behind: the bench's child processes and scratch databases, on any way out.

Every bot the bench starts leads its own process group (a new session), so Ctrl-C in a terminal
reaches only the bench, which then stops its bots itself, and a bot's group can be killed whole.
Children and PostgreSQL scratch databases are registered here the moment they exist. The normal
path removes them in `finally` blocks. SIGINT and SIGTERM cancel the bench's main task (again
and again until it stops), so those blocks run. Last, `clean_up` (on leaving
`terminate_as_interrupt`, and at exit) kills whatever group and drops whatever database is
still registered, for the paths where a `finally` could not finish (a second Ctrl-C, say).
SQLite scratch files live in `tempfile` directories, which clean themselves up the same ways.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import uuid
from collections.abc import Awaitable, Iterator
from types import FrameType
from typing import TypeVar

import asyncpg

from tests.database import PG_ADMIN_DSN

T = TypeVar("T")
# Scratch databases carry the bench's process id, so anyone can tell whose they are.
DATABASE_PREFIX = "asa_bench_"


class _Registry:
    """What exists now and must not outlive the bench."""

    def __init__(self) -> None:
        self.children: set[int] = set()  # process ids, each the leader of its own group
        self.databases: set[str] = set()
        self.main_task: asyncio.Task[object] | None = None
        self.terminations = 0


_registry = _Registry()


def adopt_child(pid: int) -> None:
    """Remember a child that leads its own process group."""
    _registry.children.add(pid)


def release_child(pid: int) -> None:
    """The child has been stopped and reaped."""
    _registry.children.discard(pid)


def kill_group(pid: int) -> None:
    """SIGKILL a child's whole process group (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def new_database_name() -> str:
    """A fresh scratch database name: prefix, this process's id, random."""
    return f"{DATABASE_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:10]}"


async def pg_admin(statement: str) -> None:
    """Run one statement on the maintenance database."""
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(name: str) -> None:
    """CREATE DATABASE, registered first: a cancelled CREATE may still have made it."""
    _registry.databases.add(name)
    await pg_admin(f'CREATE DATABASE "{name}"')


async def drop_database(name: str) -> None:
    """DROP DATABASE, whoever is still connected to it."""
    await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _registry.databases.discard(name)


async def _drop_all() -> None:
    """Drop every registered database (best effort: the server may be gone)."""
    for name in list(_registry.databases):
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await drop_database(name)


def clean_up() -> None:
    """Kill registered children's groups and drop registered databases; safe to repeat."""
    for pid in list(_registry.children):
        kill_group(pid)
        release_child(pid)
    if _registry.databases:
        asyncio.run(_drop_all())


# Python 3.11's asyncio.timeout and wait_for can lose a cancellation that arrives in the same
# loop iteration as their own timeout (fixed in 3.12): one cancel() can be swallowed, and the
# bench then ran to its end and exited 0 after a Ctrl-C (seen with 40 ms of database latency).
# So a stop request cancels the main task again every RECANCEL_SECONDS until it has stopped.
RECANCEL_SECONDS = 0.5


def cancel_until_done(task: asyncio.Task[object]) -> None:
    """Cancel `task`, and again a moment later while it still runs."""
    if task.done():
        return
    task.cancel()
    task.get_loop().call_later(RECANCEL_SECONDS, cancel_until_done, task)


def _on_stop_signal(signum: int, _frame: FrameType | None) -> None:
    """SIGINT or SIGTERM: cancel the main task (until it stops); a second signal interrupts."""
    _registry.terminations += 1
    task = _registry.main_task
    if _registry.terminations == 1 and task is not None and not task.done():
        cancel_until_done(task)
        task.get_loop().call_soon_threadsafe(lambda: None)  # wake a sleeping select()
        return
    raise KeyboardInterrupt(f"signal {signum}")


def interrupted() -> bool:
    """Whether a stop signal arrived (the bench then exits as interrupted, whatever else)."""
    return _registry.terminations > 0


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM stop the bench the same way; on leaving, clean up."""
    previous = {
        signum: signal.signal(signum, _on_stop_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        try:
            clean_up()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


async def run_cancellable(work: Awaitable[T]) -> T:
    """Await `work` as the task that SIGTERM cancels."""
    _registry.main_task = asyncio.current_task()
    try:
        return await work
    finally:
        _registry.main_task = None


atexit.register(clean_up)
