"""Notices through the outbox: the Notifier every family uses, and the reports it carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.delivery.dispatcher import run_due
from bot.services.notify import Notice, Term, When
from storage.models import Role
from tests import outbox_seed as seed
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness
from tests.harness import test_settings as make_settings

ADMIN_ID = 7_700_001


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A config admin who never registered; no flood control in the author's chat."""
    telegram.set_rate_limits(enabled=False)
    return make_settings(
        telegram=telegram,
        database_url=database_url,
        bot={"admins": [ADMIN_ID], "flood_max_updates": 1000},
    )


async def test_a_config_admin_who_never_registered_gets_the_report_in_their_language(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    admin = seed.started(telegram, user_id=ADMIN_ID)
    member = seed.started(telegram)
    async with bot.sessions() as session:
        await seed.person(session, telegram_id=member.user_id)
    # The admin has no record, but chose English.
    await admin.send("/lang")
    choice = await admin.next_reply()
    await admin.press("English", message=choice)
    await admin.wait_for_edit(choice)
    await admin.send("/broadcast")
    await admin.press("Everyone", message=await admin.next_reply())
    await admin.next_reply()
    await admin.send("Meeting on Saturday")
    await admin.next_reply()
    await admin.press("Send now", message=await admin.next_reply())
    await admin.press("Confirm", message=await admin.next_reply())
    assert "Sending announcement #1 to 1 people" in ((await admin.next_reply()).text or "")
    await member.wait_for(lambda m: m.text == "Meeting on Saturday")
    report = await admin.wait_for(lambda m: (m.text or "").startswith("Report on"))
    assert "Delivered: 1" in (report.text or "")
    await bot.settle()
    assert [m.text for m in admin.messages].count(report.text) == 1


async def test_notices_reach_each_person_in_their_own_language(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    thai, english, gone = seed.started(telegram), seed.started(telegram), seed.started(telegram)
    async with bot.sessions() as session:
        rows = [
            await seed.person(session, telegram_id=thai.user_id),
            await seed.person(session, telegram_id=english.user_id, language="en"),
            await seed.person(session, telegram_id=gone.user_id, erased_at=bot.clock.now()),
        ]
        await seed.grant(session, rows[0], Role.STAFF)
    assert bot.application is not None
    runtime = bot.application.runtime
    moment = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 09.00 in Bangkok

    async def work(session: AsyncSession) -> int:
        return await runtime.notifier.notify(
            session,
            Notice(
                "broadcast.scheduled",
                {"id": 7, "when": When(moment, "long")},
            ),
            person_ids=[row.id or 0 for row in rows],
            now=bot.clock.now(),
        )

    # The erased person is nobody's recipient any more.
    assert await runtime.db.run(work) == 2
    await run_due(bot.application)
    in_thai = await thai.next_reply()
    assert "ตั้งเวลาส่งประกาศ #7 ไว้" in (in_thai.text or "")
    assert "2569" in (in_thai.text or "")  # the Buddhist era, as Thai officials write dates
    in_english = await english.next_reply()
    assert "Announcement #7 is scheduled for" in (in_english.text or "")
    assert "2026" in (in_english.text or "")

    async def with_term(session: AsyncSession) -> int:
        return await runtime.notifier.notify(
            session,
            Notice("broadcast.audience.roles", {"values": Term("term.role.zone_chair")}),
            person_ids=[rows[0].id or 0, rows[1].id or 0],
            now=bot.clock.now(),
        )

    await runtime.db.run(with_term)
    await run_due(bot.application)
    assert (await thai.next_reply()).text == "บทบาท: ประธานโซน"
    assert (await english.next_reply()).text == "Roles: Zone chair"
    await bot.settle()
    assert telegram.count_to(gone.chat_id) == 0
