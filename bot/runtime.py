"""The long-lived objects one running bot needs, created once and closed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock, SystemClock
from bot.config import Settings
from storage.database import SessionFactory, create_engine, session_factory


@dataclass
class Runtime:
    """Settings, database and clock, shared by handlers, jobs and services."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    clock: Clock = field(default_factory=SystemClock)
    # Services that want process-wide state (flood counters, the dispatcher) park it here,
    # never in bot_data, which persistence would deep-copy.
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        """A runtime with a fresh engine (no connection is opened yet)."""
        engine = create_engine(
            settings.database.url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            clock=clock or SystemClock(),
        )

    async def close(self) -> None:
        """Release the database connections."""
        await self.engine.dispose()
