"""Audiences: each kind picks the right people, and nobody unreachable is ever in one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services import audiences
from bot.services.audiences import AudienceTooWide, InvalidAudience, NoZones
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
            # Roles, types and events, narrowed to their zones.
            {"kind": "roles", "values": ["volunteer"], "zones": [3]},
            {"kind": "types", "values": ["volunteer"], "zones": [3]},
            {"kind": "event", "event_id": 1, "zones": [3]},
            {"kind": "event_absent", "event_id": 1, "zones": [3]},
        ]
        for spec in allowed:
            spec = audiences.normalise(spec)
            await audiences.check_allowed(session=session, access=coordinator, spec=spec)
        refused = [
            {"kind": "everyone"},
            {"kind": "zones", "values": [3, 4]},
            {"kind": "zones", "values": [4]},
            {"kind": "districts", "values": [seed.ZONE3_DISTRICT, seed.ZONE4_DISTRICT]},
            {"kind": "districts", "values": [seed.NO_ZONE_DISTRICT]},
            {"kind": "districts", "values": ["9999"]},
            # Not narrowed, or narrowed to zones that are not theirs.
            {"kind": "roles", "values": ["volunteer"]},
            {"kind": "types", "values": ["volunteer"]},
            {"kind": "event", "event_id": 1},
            {"kind": "event_absent", "event_id": 1},
            {"kind": "roles", "values": ["volunteer"], "zones": [3, 4]},
            {"kind": "event", "event_id": 1, "zones": [4]},
        ]
        for spec in refused:
            spec = audiences.normalise(spec)
            with pytest.raises(AudienceTooWide):
                await audiences.check_allowed(session=session, access=coordinator, spec=spec)
        # A coordinator without zones reaches nobody; an organiser reaches anyone.
        zoneless = seed.access(None, Role.COORDINATOR)
        with pytest.raises(NoZones):
            await audiences.check_allowed(session=session, access=zoneless, spec=allowed[0])
        with pytest.raises(NoZones):
            audiences.kinds_for(zoneless)
        organiser = seed.access(None, Role.ORGANISER)
        await audiences.check_allowed(session=session, access=organiser, spec={"kind": "everyone"})
        with pytest.raises(NotAllowed):
            await audiences.check_allowed(
                session=session, access=seed.access(None, Role.STAFF), spec=allowed[0]
            )


def test_what_each_person_may_choose_and_how_it_is_narrowed() -> None:
    organiser = seed.access(None, Role.ORGANISER)
    coordinator = seed.access(None, Role.COORDINATOR, zones=frozenset({4, 3}))
    assert audiences.kinds_for(organiser) == list(audiences.CHOSEN_KINDS)
    assert "everyone" not in audiences.kinds_for(coordinator)
    assert audiences.kinds_for(coordinator) == [
        "zones",
        "districts",
        "roles",
        "types",
        "event",
        "event_absent",
    ]
    roles = {"kind": "roles", "values": ["zone_chair"]}
    assert audiences.narrow(roles, coordinator) == {**roles, "zones": [3, 4]}
    assert audiences.narrow(roles, organiser) == roles
    zones = {"kind": "zones", "values": [3]}
    assert audiences.narrow(zones, coordinator) == zones
    with pytest.raises(NotAllowed):
        audiences.kinds_for(seed.access(None, Role.STAFF))


async def test_narrowed_audiences_reach_only_the_coordinators_zones(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        chair3 = await seed.person(
            session, district_code=seed.ZONE3_DISTRICT, volunteer_role=VolunteerRole.ZONE_CHAIR
        )
        chair4 = await seed.person(
            session, district_code=seed.ZONE4_DISTRICT, volunteer_role=VolunteerRole.ZONE_CHAIR
        )
        official3 = await seed.person(
            session,
            district_code=seed.ZONE3_OTHER_DISTRICT,
            participant_type=ParticipantType.OFFICIAL,
        )
        event = await seed.event(session, starts_at=NOW + timedelta(hours=2))
        for who in (chair3, chair4, official3):
            await seed.register(session, event, who)
        await seed.check_in(session, event, official3, at=NOW)
        narrowed = {"zones": [3]}
        assert await _ids(session, {"kind": "roles", "values": ["zone_chair"], **narrowed}) == {
            chair3.id
        }
        assert await _ids(session, {"kind": "types", "values": ["official"], **narrowed}) == {
            official3.id
        }
        assert await _ids(session, {"kind": "event", "event_id": event.id, **narrowed}) == {
            chair3.id,
            official3.id,
        }
        assert await _ids(session, {"kind": "event_absent", "event_id": event.id, **narrowed}) == {
            chair3.id
        }
        assert await _ids(session, {"kind": "event", "event_id": event.id}) == {
            chair3.id,
            chair4.id,
            official3.id,
        }
