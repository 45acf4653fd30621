"""The districts table: the shipped districts with their current zones, so SQL can group by
zone (the zone file can move a district; bot/data/districts.py reads both)."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from storage.database import transaction_lock
from storage.models import District

# Replicas starting together each sync the districts: on PostgreSQL they take turns under this
# lock, so the second finds the first's rows instead of inserting them again (which failed the
# unique key and stopped that replica).
SYNC_LOCK = 0x617361_0002


async def sync(session: AsyncSession, *, geo: Geography) -> None:
    """Upsert every district with its current zone."""
    await transaction_lock(session, SYNC_LOCK)
    existing = {row.code: row for row in (await session.exec(select(District))).all()}
    for district in geo.districts:
        row = existing.get(district.code) or District(
            code=district.code, name_th=district.name_th, name_en=district.name_en
        )
        row.name_th = district.name_th
        row.name_en = district.name_en
        row.zone = district.zone
        session.add(row)
