"""Audiences: each kind picks the right people, and nobody unreachable is ever in one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services import audiences
from bot.services.audiences import AudienceTooWide, InvalidAudience
from bot.services.errors import NotAllowed
from storage.models import ParticipantType, RegistrationStatus, Role, VolunteerRole
from tests import outbox_seed as seed

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


async def _ids(session, spec) -> set[int]:
    return {r.person_id for r in await audiences.resolve(session=session, spec=spec)}


async def test_each_kind_reaches_exactly_its_people(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        zone3 = await seed.person(session, district_code=seed.ZONE3_DISTRICT)
        zone3b = await seed.person(
            session,
            district_code=seed.ZONE3_OTHER_DISTRICT,
            volunteer_role=VolunteerRole.ZONE_CHAIR,
        )
        zone4 = await seed.person(
            session, district_code=seed.ZONE4_DISTRICT, participant_type=ParticipantType.OFFICIAL
        )
        nozone = await seed.person(session, district_code=seed.NO_ZONE_DISTRICT)
        event = await seed.event(session, starts_at=NOW + timedelta(hours=2))
        await seed.register(session, event, zone3)
        await seed.register(session, event, zone4)
        await seed.register(session, event, nozone, status=RegistrationStatus.WAITLISTED)
        await seed.check_in(session, event, zone4, at=NOW)

        everyone = {p.id for p in (zone3, zone3b, zone4, nozone)}
        assert await _ids(session, {"kind": "everyone"}) == everyone
        assert await _ids(session, {"kind": "zones", "values": [3]}) == {zone3.id, zone3b.id}
        assert await _ids(session, {"kind": "zones", "values": [3, 4]}) == {
            zone3.id,
            zone3b.id,
            zone4.id,
        }
        assert await _ids(session, {"kind": "districts", "values": [seed.NO_ZONE_DISTRICT]}) == {
            nozone.id
        }
        assert await _ids(session, {"kind": "roles", "values": ["zone_chair"]}) == {zone3b.id}
        assert await _ids(session, {"kind": "types", "values": ["official"]}) == {zone4.id}
        assert await _ids(session, {"kind": "event", "event_id": event.id}) == {zone3.id, zone4.id}
        assert await _ids(session, {"kind": "event_absent", "event_id": event.id}) == {zone3.id}
        assert await audiences.count(session=session, spec={"kind": "everyone"}) == 4


async def test_erased_walkins_and_unreachable_people_are_never_included(
    database_url: str,
) -> None:
    async with seed.open_session(database_url) as session:
        kept = await seed.person(session)
        await seed.person(session, erased_at=NOW)
        await seed.person(session, unreachable_at=NOW)
        walkin = await seed.person(session, is_walkin=True)
        walkin.telegram_id = None
        session.add(walkin)
        await session.commit()
        recipients = await audiences.resolve(session=session, spec={"kind": "everyone"})
        assert [r.person_id for r in recipients] == [kept.id]
        assert recipients[0].chat_id == kept.telegram_id


@pytest.mark.parametrize(
    "spec",
    [
        None,
        {},
        {"kind": "planets"},
        {"kind": "zones"},
        {"kind": "zones", "values": []},
        {"kind": "zones", "values": ["3"]},
        {"kind": "zones", "values": [True]},
        {"kind": "roles", "values": ["emperor"]},
        {"kind": "types", "values": ["'; DROP TABLE person; --"]},
        {"kind": "event"},
        {"kind": "event", "event_id": "1"},
        {"kind": "districts", "values": ["x" * 200]},
        {"kind": "districts", "values": list(map(str, range(500)))},
    ],
)
def test_malformed_specs_are_refused(spec: object) -> None:
    with pytest.raises(InvalidAudience):
        audiences.normalise(spec)


def test_specs_are_canonical() -> None:
    assert audiences.normalise({"kind": "zones", "values": [4, 3, 4], "junk": 1}) == {
        "kind": "zones",
        "values": [3, 4],
    }
    assert audiences.normalise({"kind": "everyone", "values": [1]}) == {"kind": "everyone"}


async def test_a_coordinator_may_only_address_their_own_zones(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        coordinator = seed.access(None, Role.COORDINATOR, zones=frozenset({3}))
        allowed = [
            {"kind": "zones", "values": [3]},
            {"kind": "districts", "values": [seed.ZONE3_DISTRICT, seed.ZONE3_OTHER_DISTRICT]},
        ]
        for spec in allowed:
            await audiences.check_allowed(session=session, access=coordinator, spec=spec)
        refused = [
            {"kind": "everyone"},
            {"kind": "zones", "values": [3, 4]},
            {"kind": "zones", "values": [4]},
            {"kind": "districts", "values": [seed.ZONE3_DISTRICT, seed.ZONE4_DISTRICT]},
            {"kind": "districts", "values": [seed.NO_ZONE_DISTRICT]},
            {"kind": "districts", "values": ["9999"]},
            {"kind": "roles", "values": ["volunteer"]},
            {"kind": "types", "values": ["volunteer"]},
            {"kind": "event", "event_id": 1},
            {"kind": "event_absent", "event_id": 1},
        ]
        for spec in refused:
            with pytest.raises(AudienceTooWide):
                await audiences.check_allowed(session=session, access=coordinator, spec=spec)
        # A coordinator without zones reaches nobody; an organiser reaches anyone.
        zoneless = seed.access(None, Role.COORDINATOR)
        with pytest.raises(AudienceTooWide):
            await audiences.check_allowed(session=session, access=zoneless, spec=allowed[0])
        organiser = seed.access(None, Role.ORGANISER)
        await audiences.check_allowed(session=session, access=organiser, spec={"kind": "everyone"})
        with pytest.raises(NotAllowed):
            await audiences.check_allowed(
                session=session, access=seed.access(None, Role.STAFF), spec=allowed[0]
            )
