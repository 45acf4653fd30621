"""The audit trail: entries never hold personal data, and /audit's query is admins-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.services import audit, privacy
from bot.services.access import NOBODY, Access
from bot.services.audit import AuditAction
from bot.services.errors import NotAllowed
from storage.database import create_engine, session_factory
from storage.models import AuditEntry, Person, Role

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def access(*roles: Role) -> Access:
    """An Access holding these roles."""
    return Access(person_id=None, roles=frozenset(roles), coordinator_zones=frozenset({3}))


async def test_record_drops_personal_fields(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            audit.record(
                session=session,
                actor_id=None,
                action=AuditAction.BROADCAST_CREATE,
                at=START,
                target_type="announcement",
                target_id=7,
                detail={"phone": "+66812345678", "text": "สวัสดี", "name": "สมชาย", "recipients": 3},
            )
            await session.commit()
            entry = (await session.exec(select(AuditEntry))).one()
        assert entry.detail == {"recipients": 3}
        assert entry.target_id == "7"
    finally:
        await engine.dispose()


async def test_latest_is_newest_first_limited_and_for_admins_only(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            actor = Person(telegram_id=1, full_name="ผู้ดูแล")
            session.add(actor)
            await session.commit()
            actions = list(AuditAction)
            for minute in range(40):
                audit.record(
                    session=session,
                    actor_id=actor.id,
                    action=actions[minute % len(actions)],
                    target_id=minute,
                    at=START + timedelta(minutes=minute),
                )
            await session.commit()
            newest = await audit.latest(session=session, access=access(Role.ADMIN), limit=3)
            assert [e.target_id for e in newest] == ["39", "38", "37"]
            assert len(await audit.latest(session=session, access=access(Role.ADMIN))) == 10
            capped = await audit.latest(session=session, access=access(Role.ADMIN), limit=10_000)
            assert len(capped) == audit.MAX_LATEST
            assert (
                len(await audit.latest(session=session, access=access(Role.ADMIN), limit=-5)) == 1
            )
            for role in (Role.ORGANISER, Role.COORDINATOR, Role.STAFF):
                with pytest.raises(NotAllowed):
                    await audit.latest(session=session, access=access(role))
            with pytest.raises(NotAllowed):
                await audit.latest(session=session, access=NOBODY)
    finally:
        await engine.dispose()


async def test_erasing_a_person_keeps_their_audit_entries(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            actor = Person(telegram_id=2, full_name="ผู้จัดงาน", phone="+66812345678")
            session.add(actor)
            await session.commit()
            audit.record(
                session=session, actor_id=actor.id, action=AuditAction.EVENT_CREATE, at=START
            )
            await session.commit()
            assert actor.id is not None
            await privacy.erase_person(
                session=session, person_id=actor.id, now=START, reason="forget"
            )
            entries = await audit.latest(session=session, access=access(Role.ADMIN))
            # The earlier entry is still there, still naming the (now anonymous) person.
            created = [entry for entry in entries if entry.action == "event.create"]
            assert [entry.actor_id for entry in created] == [actor.id]
            assert "person.erase" in [entry.action for entry in entries]
            erased = await session.get(Person, actor.id)
            assert erased is not None
            assert erased.full_name is None
            assert erased.phone is None
    finally:
        await engine.dispose()
