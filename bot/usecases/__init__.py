"""Use cases: the floor between handlers and services, one module per family.

A use case opens the session, calls services, commits, and returns plain values. Handlers call
exactly one per update and never touch a session; nothing here awaits Telegram. Write one as

    @transaction
    async def check_in_by_code(session: AsyncSession, *, actor: Actor, ...) -> CheckInResult:
        ...

and call it with the database first: `await check_in_by_code(context.db, actor=..., ...)`.
`Database.run` commits when the function returns, rolls back when it raises, and retries the
whole function through a short database outage, so a use case must have no effect outside its
session (send nothing, change no process memory) until it has returned.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import Database

P = ParamSpec("P")
T = TypeVar("T")


def transaction(
    work: Callable[Concatenate[AsyncSession, P], Awaitable[T]],
) -> Callable[Concatenate[Database, P], Awaitable[T]]:
    """Make `work(session, ...)` a use case called as `use_case(db, ...)`, in one transaction."""

    @functools.wraps(work)
    async def run(db: Database, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await db.run(lambda session: work(session, *args, **kwargs))

    return run


def unstamped_transaction(
    work: Callable[Concatenate[AsyncSession, P], Awaitable[T]],
) -> Callable[Concatenate[Database, P], Awaitable[T]]:
    """As `transaction`, for a use case that records no effect of the update being processed
    (housekeeping at the start of an update, such as dropping a timed-out flow): webhook
    mode's replay stamp is not written with it, so an update whose replica died after this and
    before its real work is processed, not taken as done."""

    @functools.wraps(work)
    async def run(db: Database, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await db.run(lambda session: work(session, *args, **kwargs), stamped=False)

    return run
