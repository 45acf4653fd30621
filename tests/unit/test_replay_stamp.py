"""Webhook mode's replay stamp goes with the transactions that record an update's effects, and
not with the one that only reads who sent it (else an update whose replica died after that read
would be taken for done, and never processed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.usecases.scope import resolve_actor, save_flow
from storage.database import Database, before_commit

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_only_transactions_with_effects_carry_the_stamp(db: Database) -> None:
    stamped: list[str] = []
    current = ["none"]

    async def stamp(session: AsyncSession) -> None:
        stamped.append(current[0])

    token = before_commit.set(stamp)
    try:
        current[0] = "resolve"
        await resolve_actor(
            db,
            telegram_id=42,
            config_admins=(),
            default_language="th",
            now=NOW,
            timeout_of=lambda name: timedelta(minutes=30),
            update_id=7,
        )
        current[0] = "save"
        await save_flow(
            db, telegram_id=42, flow="profile", step="name", nonce="abcd", draft={}, now=NOW
        )
    finally:
        before_commit.reset(token)
    assert stamped == ["save"]
