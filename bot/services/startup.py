"""What must be true before the bot takes its first update."""

from __future__ import annotations

from sqlmodel import select

from bot.data.districts import Geography, load_geography
from bot.runtime import Runtime
from storage.models import District

GEOGRAPHY_KEY = "geography"


def geography(runtime: Runtime) -> Geography:
    """Districts and zones, loaded once per process (and checked at start-up)."""
    geo = runtime.extras.get(GEOGRAPHY_KEY)
    if not isinstance(geo, Geography):
        geo = load_geography(zones_file=runtime.settings.bot.zones_file)
        runtime.extras[GEOGRAPHY_KEY] = geo
    return geo


async def prepare_database(runtime: Runtime) -> None:
    """Bring the district table in line with the shipped data and the zone file."""
    await sync_districts(runtime)


async def sync_districts(runtime: Runtime) -> None:
    """Upsert every district with its current zone, so SQL can group by zone."""
    geo = geography(runtime)
    async with runtime.sessions() as session:
        existing = {row.code: row for row in (await session.exec(select(District))).all()}
        for district in geo.districts:
            row = existing.get(district.code) or District(
                code=district.code, name_th=district.name_th, name_en=district.name_en
            )
            row.name_th = district.name_th
            row.name_en = district.name_en
            row.zone = district.zone
            session.add(row)
        await session.commit()
