"""The alarm clock: nobody calls the dispatcher by hand here; alarms and the sweep do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Settings
from bot.delivery import scheduler
from bot.services import announcements
from storage.models import Announcement, AnnouncementStatus, Person, Role
from tests import outbox_seed as seed
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as TgPerson
from tests.harness import BotHarness
from tests.harness import test_settings as make_settings


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A sweep too slow to matter (only alarms can be on time), and paid broadcasts on."""
    base = make_settings(
        telegram=telegram, database_url=database_url, broadcast={"sweep_interval_seconds": 3600}
    )
    return base.model_copy(
        update={"telegram": base.telegram.model_copy(update={"paid_broadcast": True})}
    )


async def member(bot: BotHarness, telegram: FakeTelegram) -> tuple[TgPerson, int]:
    """A registered person with an open chat; their person id."""
    user = telegram.person()
    telegram.world.chats.setdefault(user.chat_id, user.chat)
    async with bot.sessions() as session:
        row = await seed.person(session, telegram_id=user.user_id)
    return user, row.id or 0


async def test_an_alarm_sends_a_scheduled_announcement_on_time(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    user, _ = await member(bot, telegram)
    send_at = bot.clock.now() + timedelta(seconds=1)
    async with bot.sessions() as session:
        created = await announcements.create(
            session=session,
            access=seed.access(None, Role.ADMIN),
            audience={"kind": "everyone"},
            text="ตรงเวลา",
            entities=None,
            send_at=send_at,
            now=bot.clock.now(),
        )
        await session.commit()
    assert bot.application is not None
    scheduler.announcement_changed(bot.application, created.id or 0, send_at)
    received = await user.wait_for(lambda m: m.text == "ตรงเวลา", 10)
    assert received.date >= int(send_at.timestamp()) - 1
    # Paid broadcasts, when the deployment pays for them.
    call = next(c for c in telegram.calls_of("sendMessage") if c.ok)
    assert call.params.get("allow_paid_broadcast") in (True, "true", "True")


async def test_the_sweep_catches_what_no_alarm_was_set_for(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    user, _ = await member(bot, telegram)
    await bot.stop()
    bot.settings = bot.settings.model_copy(
        update={
            "broadcast": bot.settings.broadcast.model_copy(update={"sweep_interval_seconds": 0.5})
        }
    )
    await bot.start()
    async with bot.sessions() as session:
        # Written straight into the table, as if the alarm had been lost.
        session.add(
            Announcement(
                audience={"kind": "everyone"},
                text="กวาดตก",
                status=AnnouncementStatus.SCHEDULED,
                send_at=bot.clock.now() - timedelta(minutes=1),
            )
        )
        await session.commit()
    await user.wait_for(lambda m: m.text == "กวาดตก", 10)


async def test_alarms_are_set_again_at_start_up_from_the_tables(
    bot: BotHarness, telegram: FakeTelegram, database_url: str
) -> None:
    user, person_id = await member(bot, telegram)
    await bot.stop()
    start = bot.clock.now() + timedelta(hours=24, seconds=2)
    async with seed.open_session(database_url) as session:
        event = await seed.event(session, starts_at=start, created_at=bot.clock.now())
        person = await session.get(Person, person_id)
        assert person is not None
        await seed.register(session, event, person)
    await bot.start()
    assert telegram.count_to(user.chat_id) == 0
    reminder = await user.wait_for(lambda m: (m.text or "").startswith("แจ้งเตือนกิจกรรม"), 10)
    assert reminder.button_texts == ["ไปแน่นอน", "ไปไม่ได้"]


async def test_a_new_event_gets_its_reminder_alarms_when_the_events_family_says_so(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    user, person_id = await member(bot, telegram)
    async with bot.sessions() as session:
        # Created now, starting in a little over an hour: the one-hour reminder is due soon.
        event = await seed.event(
            session,
            starts_at=bot.clock.now() + timedelta(hours=1, seconds=1),
            created_at=bot.clock.now(),
            opens_before_minutes=30,
        )
        person = await session.get(Person, person_id)
        assert person is not None
        await seed.register(session, event, person)
    assert bot.application is not None
    await scheduler.event_changed(bot.application, event.id or 0)
    reminder = await user.wait_for(lambda m: "อีก 1 ชั่วโมง จะเริ่มกิจกรรม" in (m.text or ""), 10)
    assert reminder.button_texts == ["ไปแน่นอน", "ไปไม่ได้"]
