"""Webhook mode in one process: Telegram posts updates, the bot writes them down, then works.

Several replicas are tested with real processes in tests/e2e/test_replicas.py; this file
checks the endpoint itself: the secret, the answer only after the update is stored, copies
processed once, and nothing lost when the database is briefly away.
"""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from bot.config import Settings
from bot.web.webhook import SECRET_HEADER, webhook_path
from storage.models import CheckIn, InboxUpdate
from tests import harness
from tests.e2e.test_checkin_methods import member, open_event
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
