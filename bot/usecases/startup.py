"""What must be true before the bot takes its first update."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from bot.services import districts
from bot.usecases import transaction


@transaction
async def sync_districts(session: AsyncSession, *, geo: Geography) -> None:
    """The districts table matches the shipped data and the zone file."""
    await districts.sync(session, geo=geo)
