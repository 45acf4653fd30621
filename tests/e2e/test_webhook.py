"""Webhook mode in one process: Telegram posts updates, the bot writes them down, then works.

Several replicas are tested with real processes in tests/e2e/test_replicas.py; this file
checks the endpoint itself: the secret, the answer only after the update is stored, copies
processed once, and nothing lost when the database is briefly away.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from bot.config import Settings
from bot.web.webhook import SECRET_HEADER, webhook_path
from storage.models import CheckIn, InboxUpdate, Person
from tests import harness
from tests.e2e.test_checkin_methods import member, open_event
from tests.e2e.test_registration import TH, WORDS, skip_to_summary
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness
from tests.web.conftest import free_port

SECRET = "s3cret-for-tests_only"


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """Webhook mode on a free loopback port (plain http is allowed on loopback)."""
    port = free_port()
    return harness.test_settings(
        telegram=telegram,
        database_url=database_url,
        telegram_section={
            "mode": "webhook",
            "webhook_url": f"http://127.0.0.1:{port}",
            "secret_token": SECRET,
        },
        web={"listen": "127.0.0.1", "port": port},
        bot={"flood_max_updates": 1000},
    )


def endpoint(settings: Settings) -> str:
    return settings.telegram.webhook_url + webhook_path(SECRET)


async def test_updates_arrive_by_webhook_and_are_answered(
    bot: BotHarness, telegram: FakeTelegram, settings: Settings
) -> None:
    assert telegram.webhook.url == endpoint(settings)
    event = await open_event(bot)
    chat, person = await member(bot, telegram)
    await chat.send("/help")
    assert ((await chat.next_reply()).text or "").startswith("คำสั่งที่ใช้ได้")
    await chat.send(f"/checkin {event.code}")
    assert ((await chat.next_reply()).text or "").startswith("✅")
    await bot.settle()
    async with bot.sessions() as session:
        rows = (await session.exec(select(InboxUpdate))).all()
        checkins = (await session.exec(select(CheckIn))).all()
    assert [row.status for row in rows] == ["done", "done"]
    assert [c.person_id for c in checkins] == [person.id]
    # Every delivery was acknowledged with 200 (after the row was committed).
    assert {d.status for d in telegram.webhook_deliveries} == {200}


async def test_a_forged_request_changes_nothing(
    bot: BotHarness, telegram: FakeTelegram, settings: Settings
) -> None:
    event = await open_event(bot)
    chat, _ = await member(bot, telegram)
    forged = {
        "update_id": 999_999,
        "message": {
            "message_id": 1,
            "date": 1_764_570_000,
            "chat": {"id": chat.chat_id, "type": "private", "first_name": "x"},
            "from": chat.user,
            "text": f"/checkin {event.code}",
            "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
        },
    }
    async with httpx.AsyncClient(timeout=10) as client:
        missing = await client.post(endpoint(settings), json=forged)
        wrong = await client.post(endpoint(settings), json=forged, headers={SECRET_HEADER: "guess"})
        wrong_path = await client.post(
            settings.telegram.webhook_url + webhook_path("guess"),
            json=forged,
            headers={SECRET_HEADER: SECRET},
        )
    assert (missing.status_code, wrong.status_code, wrong_path.status_code) == (403, 403, 404)
    await bot.settle()
    async with bot.sessions() as session:
        assert (await session.exec(select(InboxUpdate))).all() == []
        assert (await session.exec(select(CheckIn))).all() == []
    assert chat.messages == []


async def test_a_copy_of_an_update_is_processed_once(
    bot: BotHarness, telegram: FakeTelegram, settings: Settings
) -> None:
    """Telegram retries a delivery it thinks failed, and a proxy may deliver twice."""
    event = await open_event(bot)
    chat, _ = await member(bot, telegram)
    await chat.send(f"/checkin {event.code}")
    assert ((await chat.next_reply()).text or "").startswith("✅")
    await bot.settle()
    delivered = telegram.webhook_deliveries[-1]
    async with bot.sessions() as session:
        row = (await session.exec(select(InboxUpdate))).one()
    async with httpx.AsyncClient(timeout=10) as client:
        again = await client.post(
            endpoint(settings), json=row.payload, headers={SECRET_HEADER: SECRET}
        )
    assert again.status_code == 200
    await bot.settle()
    assert delivered.update_id == row.update_id
    assert len(chat.messages) == 1


async def replay(bot: BotHarness, update_id: int) -> None:
    """Put an update back as a replica that died before marking it done would leave it: claimed
    long ago, by a process that will never renew the claim. The worker then takes it over."""
    async with bot.sessions() as session:
        row = await session.get(InboxUpdate, update_id)
        assert row is not None
        assert row.status == "done"
        row.status = "processing"
        row.claimed_by = "a-replica-that-died"
        row.claimed_at = bot.clock.now() - timedelta(hours=1)
        row.done_at = None
        session.add(row)
        await session.commit()
    assert bot.application is not None
    assert bot.application.inbox is not None
    bot.application.inbox.wake()
    await bot.settle()


async def test_an_update_taken_over_after_its_replica_died_is_answered_not_applied_twice(
    bot: BotHarness, telegram: FakeTelegram, settings: Settings
) -> None:
    """Its effects were committed (with its stamp) but whether its answer went out is unknown."""
    event = await open_event(bot)
    chat, person = await member(bot, telegram)

    # A check-in: run again, it answers with the time of the one check-in there is.
    await chat.send(f"/checkin {event.code}")
    assert ((await chat.next_reply()).text or "").startswith("✅ เช็กอิน")
    await bot.settle()
    await replay(bot, telegram.webhook_deliveries[-1].update_id)
    assert ((await chat.next_reply()).text or "").startswith("เช็กอินแล้วเมื่อ")
    async with bot.sessions() as session:
        assert [c.person_id for c in (await session.exec(select(CheckIn))).all()] == [person.id]

    # A change with no question open (a language button): acknowledged, not done again.
    await chat.send("/lang")
    choice = await chat.next_reply()
    await chat.press("English", message=choice)
    await bot.settle()
    assert chat.messages[-1].text == "Switched to English."  # the choice, edited
    await replay(bot, telegram.webhook_deliveries[-1].update_id)
    recorded = (await chat.next_reply()).text or ""
    assert recorded.startswith("✅ Your last message was received and recorded.\n\nWelcome back")
    await bot.settle()
    async with bot.sessions() as session:
        rows = (await session.exec(select(InboxUpdate))).all()
    assert {row.status for row in rows} == {"done"}


async def test_a_confirmed_registration_taken_over_says_it_went_through(
    bot: BotHarness, telegram: FakeTelegram, settings: Settings
) -> None:
    """ "✅ ยืนยัน" pressed, the person registered, the replica dead before the welcome: the
    replica that takes the update over says the registration is recorded, by name, once."""
    person = telegram.person()
    summary = await skip_to_summary(person, TH, "ผู้สังเกตการณ์")
    await person.press("✅ ยืนยัน", message=summary)
    await person.wait_for(lambda m: WORDS[TH].welcome in (m.text or ""))
    await bot.settle()
    await replay(bot, telegram.webhook_deliveries[-1].update_id)
    recorded = (await person.next_reply()).text or ""
    assert recorded.startswith("✅ ได้รับข้อความล่าสุดของท่านและบันทึกไว้แล้ว")
    assert "ยินดีต้อนรับกลับมา คุณSomchai Jaidee" in recorded
    async with bot.sessions() as session:
        people = (await session.exec(select(Person))).all()
    assert [p.telegram_id for p in people] == [person.user_id]
