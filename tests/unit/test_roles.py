"""Roles: who may grant what, and every change audited (service level, real database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import roles
from bot.services.access import Access, Capability, access_for
from bot.services.errors import NotAllowed
from storage.database import create_engine, session_factory
from storage.models import AuditEntry, CoordinatorZone, District, Person, Role, RoleGrant

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CONFIG_ADMIN_TG = 9001


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session on a fresh database with zones 3 and 4 and a few people."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as db:
            db.add_all(
                [
                    District(code="1033", name_th="คลองเตย", name_en="Khlong Toei", zone=3),
                    District(code="1047", name_th="บางนา", name_en="Bang Na", zone=3),
                    District(code="1006", name_th="บางกะปิ", name_en="Bang Kapi", zone=4),
                    District(code="1001", name_th="พระนคร", name_en="Phra Nakhon", zone=None),
                ]
            )
            await db.commit()
            yield db
    finally:
        await engine.dispose()


async def add_person(
    db: AsyncSession, telegram_id: int | None, *, username: str | None = None, **fields: object
) -> Person:
    """A registered person."""
    person = Person(
        telegram_id=telegram_id,
        telegram_username=username,
        full_name=f"คนที่ {telegram_id}",
        phone=f"+6681{telegram_id or 0:07d}",
        **fields,
    )
    db.add(person)
    await db.commit()
    return person


async def access_of(db: AsyncSession, person: Person | None, telegram_id: int | None) -> Access:
    """What someone may do, as the bot computes it."""
    return await access_for(
        session=db, person=person, telegram_id=telegram_id, config_admins=(CONFIG_ADMIN_TG,)
    )


async def admin_access(db: AsyncSession) -> Access:
    """A config admin who has registered too."""
    admin = await add_person(db, CONFIG_ADMIN_TG)
    return await access_of(db, admin, CONFIG_ADMIN_TG)


async def audit_rows(db: AsyncSession) -> list[AuditEntry]:
    """Every audit entry, oldest first."""
    return list((await db.exec(select(AuditEntry).order_by(AuditEntry.id))).all())  # type: ignore[arg-type]


async def test_admin_grants_staff_and_it_is_audited_without_personal_data(
    session: AsyncSession,
) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 111)
    change = await roles.grant(
        session=session, actor=admin, target=target, role=Role.STAFF, zones=(), now=NOW
    )
    assert change.roles_after == {Role.STAFF}
    access = await access_of(session, target, 111)
    assert access.can(Capability.CHECK_IN_OTHERS)
    assert access.can(Capability.REGISTER_WALKINS)
    assert not access.can(Capability.BROADCAST)
    [entry] = await audit_rows(session)
    assert (entry.action, entry.target_type, entry.target_id) == (
        "role.grant",
        "person",
        str(target.id),
    )
    assert entry.actor_id == admin.person_id
    assert entry.detail == {"role": "staff"}
    assert entry.at == NOW
    assert target.phone is not None
    assert target.phone not in str(entry.detail)


async def test_coordinator_gets_zones_and_is_limited_to_them(session: AsyncSession) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 112)
    await roles.grant(
        session=session, actor=admin, target=target, role=Role.COORDINATOR, zones=[3], now=NOW
    )
    change = await roles.grant(
        session=session, actor=admin, target=target, role=Role.COORDINATOR, zones=[3, 4], now=NOW
    )
    assert change.zones_after == {3, 4}
    access = await access_of(session, target, 112)
    assert access.zone_limit() == {3, 4}
    assert access.can(Capability.VIEW_HEADCOUNT)
    assert not access.can(Capability.EXPORT)
    entries = await audit_rows(session)
    # The second grant only added zone 4, and says so.
    assert [e.detail for e in entries] == [
        {"role": "coordinator", "zones": [3]},
        {"role": "coordinator", "zones": [4]},
    ]


async def test_coordinator_needs_known_zones(session: AsyncSession) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 113)
    with pytest.raises(roles.ZonesRequired):
        await roles.grant(
            session=session, actor=admin, target=target, role=Role.COORDINATOR, now=NOW
        )
    with pytest.raises(roles.UnknownZone) as raised:
        await roles.grant(
            session=session,
            actor=admin,
            target=target,
            role=Role.COORDINATOR,
            zones=[3, 99],
            now=NOW,
        )
    assert raised.value.values == {"zone": 99}
    with pytest.raises(roles.ZonesOnlyForCoordinators):
        await roles.grant(
            session=session, actor=admin, target=target, role=Role.STAFF, zones=[3], now=NOW
        )
    assert await audit_rows(session) == []
    assert (await session.exec(select(RoleGrant))).all() == []


async def test_granting_twice_is_refused_and_changes_nothing(session: AsyncSession) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 114)
    await roles.grant(session=session, actor=admin, target=target, role=Role.ORGANISER, now=NOW)
    with pytest.raises(roles.RoleAlreadyHeld):
        await roles.grant(session=session, actor=admin, target=target, role=Role.ORGANISER, now=NOW)
    assert len(await audit_rows(session)) == 1


@pytest.mark.parametrize("role", [None, Role.ORGANISER, Role.COORDINATOR, Role.STAFF])
async def test_only_admins_manage_roles(session: AsyncSession, role: Role | None) -> None:
    admin = await admin_access(session)
    actor_person = await add_person(session, 200)
    if role is not None:
        zones = [3] if role == Role.COORDINATOR else []
        await roles.grant(
            session=session, actor=admin, target=actor_person, role=role, zones=zones, now=NOW
        )
    actor = await access_of(session, actor_person, 200)
    target = await add_person(session, 201)
    before = len(await audit_rows(session))
    with pytest.raises(NotAllowed):
        await roles.grant(session=session, actor=actor, target=target, role=Role.STAFF, now=NOW)
    with pytest.raises(NotAllowed):
        await roles.grant(
            session=session, actor=actor, target=actor_person, role=Role.ADMIN, now=NOW
        )
    with pytest.raises(NotAllowed):
        await roles.revoke(session=session, actor=actor, target=target, role=Role.STAFF, now=NOW)
    with pytest.raises(NotAllowed):
        await roles.list_roles(session=session, actor=actor)
    with pytest.raises(NotAllowed):
        await roles.find_person(session=session, actor=actor, phone=target.phone)
    assert len(await audit_rows(session)) == before
    assert (await access_of(session, target, 201)).roles == frozenset()


async def test_granted_admin_can_grant_and_revoked_admin_cannot(session: AsyncSession) -> None:
    admin = await admin_access(session)
    deputy = await add_person(session, 300)
    other = await add_person(session, 301)
    await roles.grant(session=session, actor=admin, target=deputy, role=Role.ADMIN, now=NOW)
    deputy_access = await access_of(session, deputy, 300)
    await roles.grant(session=session, actor=deputy_access, target=other, role=Role.STAFF, now=NOW)
    await roles.revoke(
        session=session,
        actor=admin,
        target=deputy,
        role=Role.ADMIN,
        now=NOW,
        config_admins=(CONFIG_ADMIN_TG,),
    )
    deputy_access = await access_of(session, deputy, 300)
    with pytest.raises(NotAllowed):
        await roles.revoke(
            session=session, actor=deputy_access, target=other, role=Role.STAFF, now=NOW
        )
    assert [e.action for e in await audit_rows(session)] == [
        "role.grant",
        "role.grant",
        "role.revoke",
    ]


async def test_config_admins_cannot_be_revoked_and_admins_cannot_demote_themselves(
    session: AsyncSession,
) -> None:
    admin = await admin_access(session)
    config_admin_person = (
        await session.exec(select(Person).where(Person.telegram_id == CONFIG_ADMIN_TG))
    ).one()
    deputy = await add_person(session, 400)
    await roles.grant(session=session, actor=admin, target=deputy, role=Role.ADMIN, now=NOW)
    deputy_access = await access_of(session, deputy, 400)
    with pytest.raises(roles.ConfigAdminProtected):
        await roles.revoke(
            session=session,
            actor=deputy_access,
            target=config_admin_person,
            role=Role.ADMIN,
            now=NOW,
            config_admins=(CONFIG_ADMIN_TG,),
        )
    with pytest.raises(roles.SelfRevoke):
        await roles.revoke(
            session=session,
            actor=deputy_access,
            target=deputy,
            role=Role.ADMIN,
            now=NOW,
            config_admins=(CONFIG_ADMIN_TG,),
        )
    assert (await access_of(session, config_admin_person, CONFIG_ADMIN_TG)).can(
        Capability.MANAGE_ROLES
    )
    assert (await access_of(session, deputy, 400)).can(Capability.MANAGE_ROLES)


async def test_revoking_zones_then_the_role(session: AsyncSession) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 500)
    await roles.grant(
        session=session, actor=admin, target=target, role=Role.COORDINATOR, zones=[3, 4], now=NOW
    )
    change = await roles.revoke(
        session=session, actor=admin, target=target, role=Role.COORDINATOR, zones=[4], now=NOW
    )
    assert change.roles_after == {Role.COORDINATOR}
    assert change.zones_after == {3}
    assert (await access_of(session, target, 500)).zone_limit() == {3}
    with pytest.raises(roles.RoleNotHeld):
        await roles.revoke(
            session=session, actor=admin, target=target, role=Role.COORDINATOR, zones=[4], now=NOW
        )
    change = await roles.revoke(
        session=session, actor=admin, target=target, role=Role.COORDINATOR, now=NOW
    )
    assert change.roles_after == frozenset()
    assert (await session.exec(select(CoordinatorZone))).all() == []
    assert (await access_of(session, target, 500)).roles == frozenset()
    with pytest.raises(roles.RoleNotHeld):
        await roles.revoke(session=session, actor=admin, target=target, role=Role.STAFF, now=NOW)
    details = [(e.action, e.detail) for e in await audit_rows(session)]
    assert details == [
        ("role.grant", {"role": "coordinator", "zones": [3, 4]}),
        ("role.revoke", {"role": "coordinator", "zones": [4]}),
        ("role.revoke", {"role": "coordinator"}),
    ]


async def test_removing_the_last_zone_removes_the_coordinator_role(session: AsyncSession) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 501)
    await roles.grant(
        session=session, actor=admin, target=target, role=Role.COORDINATOR, zones=[3], now=NOW
    )
    change = await roles.revoke(
        session=session, actor=admin, target=target, role=Role.COORDINATOR, zones=[3], now=NOW
    )
    assert change.roles_after == frozenset()
    assert (await session.exec(select(RoleGrant))).all() == []


async def test_find_person_by_phone_username_and_telegram_id(session: AsyncSession) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 600, username="Somchai_V")
    await add_person(session, 601, erased_at=NOW)
    walkin = Person(full_name="ไม่มีเทเลแกรม", phone="+66812223333", is_walkin=True)
    session.add(walkin)
    await session.commit()
    assert (
        await roles.find_person(session=session, actor=admin, phone=target.phone)
    ).id == target.id
    assert (
        await roles.find_person(session=session, actor=admin, username="@somchai_v")
    ).id == target.id
    assert (await roles.find_person(session=session, actor=admin, telegram_id=600)).id == target.id
    with pytest.raises(roles.PersonNotFound):
        await roles.find_person(session=session, actor=admin, telegram_id=601)
    with pytest.raises(roles.PersonNotFound):
        await roles.find_person(session=session, actor=admin, phone="+66812223333")
    with pytest.raises(roles.PersonNotFound):
        await roles.find_person(session=session, actor=admin, username="nobody")
    with pytest.raises(roles.PersonNotFound):
        await roles.find_person(session=session, actor=admin)


async def test_erased_people_cannot_be_granted_and_lose_their_roles(session: AsyncSession) -> None:
    admin = await admin_access(session)
    target = await add_person(session, 700)
    await roles.grant(session=session, actor=admin, target=target, role=Role.ORGANISER, now=NOW)
    target.erased_at = NOW
    session.add(target)
    await session.commit()
    assert (await access_of(session, target, 700)).roles == frozenset()
    with pytest.raises(roles.PersonNotFound):
        await roles.grant(session=session, actor=admin, target=target, role=Role.STAFF, now=NOW)


async def test_list_roles_shows_config_admins_first_then_holders(session: AsyncSession) -> None:
    admin = await admin_access(session)
    organiser = await add_person(session, 800, username="org")
    coordinator = await add_person(session, 801)
    await add_person(session, 802)
    await roles.grant(session=session, actor=admin, target=organiser, role=Role.ORGANISER, now=NOW)
    await roles.grant(
        session=session, actor=admin, target=coordinator, role=Role.COORDINATOR, zones=[4], now=NOW
    )
    holders = await roles.list_roles(
        session=session, actor=admin, config_admins=(CONFIG_ADMIN_TG, 5555)
    )
    summary = [(h.telegram_id, sorted(h.roles), sorted(h.zones), h.config_admin) for h in holders]
    assert summary == [
        (5555, [Role.ADMIN], [], True),
        (CONFIG_ADMIN_TG, [Role.ADMIN], [], True),
        (800, [Role.ORGANISER], [], False),
        (801, [Role.COORDINATOR], [4], False),
    ]
    assert holders[2].username == "org"


def test_role_words_in_thai_and_english() -> None:
    assert roles.parse_role("Organizer") == Role.ORGANISER
    assert roles.parse_role("ผู้ประสานงาน") == Role.COORDINATOR
    assert roles.parse_role(" staff ") == Role.STAFF
    assert roles.parse_role("volunteer") is None


async def test_check_choice_rechecks_the_admin_and_what_is_chosen(session: AsyncSession) -> None:
    admin = await admin_access(session)
    staff_person = await add_person(session, 900)
    await roles.grant(session=session, actor=admin, target=staff_person, role=Role.STAFF, now=NOW)
    staff = await access_of(session, staff_person, 900)

    async def check(actor: Access, role: Role | None, zones: list[int], final: bool) -> object:
        return await roles.check_choice(
            session=session,
            actor=actor,
            action=roles.RoleAction.GRANT,
            role=role,
            zones=zones,
            zones_final=final,
        )

    assert await check(admin, None, [], False) == {3, 4}
    assert await check(admin, Role.COORDINATOR, [], False) == {3, 4}
    assert await check(admin, Role.COORDINATOR, [4], True) == {3, 4}
    with pytest.raises(roles.ZonesRequired):
        await check(admin, Role.COORDINATOR, [], True)
    with pytest.raises(roles.UnknownZone):
        await check(admin, Role.COORDINATOR, [5], False)
    with pytest.raises(roles.ZonesOnlyForCoordinators):
        await check(admin, Role.STAFF, [3], False)
    with pytest.raises(NotAllowed):
        await check(staff, None, [], False)
    # Revoking a coordinator without naming zones takes the whole role: no zone needed.
    revoking = await roles.check_choice(
        session=session,
        actor=admin,
        action=roles.RoleAction.REVOKE,
        role=Role.COORDINATOR,
        zones=[],
        zones_final=True,
    )
    assert revoking == {3, 4}


async def test_grant_and_revoke_leave_the_commit_to_their_caller(session: AsyncSession) -> None:
    """Services never commit: a use case's transaction decides, and rolls back as one."""
    admin = await admin_access(session)
    target_id = (await add_person(session, 950)).id

    async def target() -> Person:
        # A rollback expires what the session loaded: read the person again each time.
        person = await session.get(Person, target_id)
        assert person is not None
        return person

    await roles.grant(
        session=session,
        actor=admin,
        target=await target(),
        role=Role.COORDINATOR,
        zones=[3],
        now=NOW,
    )
    await session.rollback()
    assert (await session.exec(select(RoleGrant))).all() == []
    assert (await session.exec(select(CoordinatorZone))).all() == []
    assert await audit_rows(session) == []

    await roles.grant(session=session, actor=admin, target=await target(), role=Role.STAFF, now=NOW)
    await session.commit()
    await roles.revoke(
        session=session, actor=admin, target=await target(), role=Role.STAFF, now=NOW
    )
    await session.rollback()
    assert (await access_of(session, await target(), 950)).roles == {Role.STAFF}
    assert [e.action for e in await audit_rows(session)] == ["role.grant"]
