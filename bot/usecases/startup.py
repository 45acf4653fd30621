"""What must be true before the bot takes its first update."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from bot.usecases import transaction
from storage.models import District

# Replicas starting together each sync the districts: on PostgreSQL they take turns under this
# transaction-level advisory lock, so the second finds the first's rows instead of inserting
# them again (which failed the unique key and stopped that replica).
SYNC_LOCK = 0x617361_0002


@transaction
async def sync_districts(session: AsyncSession, *, geo: Geography) -> None:
    """Upsert every district with its current zone (from the shipped data and the zone file),
    so SQL can group by zone."""
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(  # type: ignore[call-overload]
            text("SELECT pg_advisory_xact_lock(:key)"), params={"key": SYNC_LOCK}
        )
    existing = {row.code: row for row in (await session.exec(select(District))).all()}
    for district in geo.districts:
        row = existing.get(district.code) or District(
            code=district.code, name_th=district.name_th, name_en=district.name_en
        )
        row.name_th = district.name_th
        row.name_en = district.name_en
        row.zone = district.zone
        session.add(row)
