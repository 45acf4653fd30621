"""The outbox end to end: the real bot sends through the fake Telegram, faults and all."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.config import Settings
from bot.delivery import scheduler
from bot.delivery.dispatcher import dispatcher_of, run_due
from bot.services import announcements
from storage.models import Announcement, AnnouncementStatus, Delivery, DeliveryStatus, Person, Role
from tests import outbox_seed as seed
from tests.fake_telegram import ApiCall, FakeTelegram
from tests.fake_telegram import Person as TgPerson
from tests.harness import BotHarness
from tests.harness import test_settings as make_settings

BOLD = [{"type": "bold", "offset": 0, "length": 6}]
TEXT = "สำคัญ! ประชุมอาสาสมัครวันเสาร์ 09.00 น."


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """The dispatcher sees every 429 itself (PTB's limiter would otherwise retry first)."""
    telegram.set_rate_limits(enabled=False)
    base = make_settings(
        telegram=telegram,
        database_url=database_url,
        # A backoff far longer than any pass, however slow the machine: "not yet due" is a
        # matter of the clock the test moves, never of speed.
        broadcast={"retry_backoff_seconds": 30.0, "max_attempts": 3},
    )
    return base.model_copy(update={"telegram": base.telegram.model_copy(update={"max_retries": 0})})


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns when it builds a RetryAfter unless told to use timedeltas."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def _people(
    bot: BotHarness, telegram: FakeTelegram, n: int, district_code: str | None = None
) -> list[TgPerson]:
    """n Telegram users who are registered volunteers (of a district, if given)."""
    users = [seed.started(telegram) for _ in range(n)]
    async with bot.sessions() as session:
        await seed.many_people(
            session, telegram_ids=[u.user_id for u in users], district_code=district_code
        )
    return users


async def _author(bot: BotHarness, telegram: FakeTelegram, role: Role = Role.ORGANISER) -> Any:
    """A Telegram user who may broadcast, and their Person row."""
    user = seed.started(telegram)
    async with bot.sessions() as session:
        row = await seed.person(session, telegram_id=user.user_id, district_code="1001")
        await seed.grant(session, row, role)
    return user, row


async def _announce(bot: BotHarness, author: Person, audience: dict[str, Any]) -> int:
    """Confirm an announcement through the service, as /broadcast does."""
    async with bot.sessions() as session:
        created = await announcements.create(
            session=session,
            access=seed.access(author, Role.ORGANISER),
            audience=audience,
            text=TEXT,
            entities=BOLD,
            send_at=None,
            now=bot.clock.now(),
        )
        await session.commit()
    return created.id or 0


async def _deliveries(bot: BotHarness, announcement_id: int) -> list[Delivery]:
    async with bot.sessions() as session:
        rows = await session.exec(
            select(Delivery).where(col(Delivery.announcement_id) == announcement_id)
        )
        return list(rows.all())


async def test_every_recipient_gets_one_formatted_copy_and_the_author_a_report(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    users = await _people(bot, telegram, 6, district_code=seed.ZONE3_DISTRICT)
    outsider = (await _people(bot, telegram, 1, district_code=seed.ZONE4_DISTRICT))[0]
    author, author_row = await _author(bot, telegram)
    announcement_id = await _announce(bot, author_row, {"kind": "zones", "values": [3]})
    await run_due(bot.application)
    for user in users:
        assert telegram.count_to(user.chat_id) == 1
        message = telegram.messages_to(user.chat_id)[0]
        assert message.text == TEXT
        assert [(e["type"], e["offset"], e["length"]) for e in message.entities] == [("bold", 0, 6)]
    assert telegram.count_to(outsider.chat_id) == 0
    rows = await _deliveries(bot, announcement_id)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert all(r.sent_at is not None and r.message_id for r in rows)
    report = await author.wait_for(lambda m: "#" in (m.text or ""))
    assert "ส่งถึงแล้ว: 6 คน" in (report.text or "")
    assert "บล็อกบอท: 0 คน" in (report.text or "")
    # Running again (the sweep, an alarm) sends nothing more.
    await run_due(bot.application)
    assert sum(telegram.count_to(u.chat_id) for u in users) == 6
    assert telegram.count_to(author.chat_id) == 1


async def test_a_429_storm_pauses_the_whole_dispatcher_and_loses_nobody(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    users = await _people(bot, telegram, 30)
    _, author_row = await _author(bot, telegram)
    telegram.fail_next("sendMessage", kind="429", times=5, retry_after=1)
    announcement_id = await _announce(bot, author_row, {"kind": "everyone"})
    loop = asyncio.get_running_loop()
    began = loop.time()
    await run_due(bot.application)
    # The pass waited for Telegram's "retry after" instead of leaving the refused ones behind.
    assert loop.time() - began >= 1.0
    assert all(telegram.count_to(u.chat_id) == 1 for u in users)
    rows = await _deliveries(bot, announcement_id)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    # A 429 is not a failed attempt: nobody used up their retries on it.
    assert max(r.attempts for r in rows) == 1
    refused = [c for c in telegram.calls_of("sendMessage") if c.status == 429]
    assert len(refused) == 5


async def test_a_person_who_blocked_the_bot_is_skipped_until_they_write_again(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    users = await _people(bot, telegram, 3)
    author, author_row = await _author(bot, telegram)
    blocker = users[1]
    telegram.block(blocker.chat_id)
    first = await _announce(bot, author_row, {"kind": "everyone"})
    await run_due(bot.application)
    rows = {r.chat_id: r for r in await _deliveries(bot, first)}
    assert rows[blocker.chat_id].status == DeliveryStatus.BLOCKED
    assert rows[blocker.chat_id].attempts == 1
    async with bot.sessions() as session:
        person = (
            await session.exec(select(Person).where(col(Person.telegram_id) == blocker.chat_id))
        ).one()
        assert person.unreachable_at is not None
    report = await author.wait_for(lambda m: "#" in (m.text or ""))
    assert "บล็อกบอท: 1 คน" in (report.text or "")

    second = await _announce(bot, author_row, {"kind": "everyone"})
    await run_due(bot.application)
    assert blocker.chat_id not in {r.chat_id for r in await _deliveries(bot, second)}

    # They unblock and write: reachable again, and in the next audience.
    telegram.unblock(blocker.chat_id)
    await blocker.send("/help")
    await blocker.next_reply()
    third = await _announce(bot, author_row, {"kind": "everyone"})
    await run_due(bot.application)
    assert blocker.chat_id in {r.chat_id for r in await _deliveries(bot, third)}
    assert telegram.count_to(blocker.chat_id) == 2  # the /help answer and the third one


async def test_server_errors_are_retried_with_backoff_then_recorded_as_failed(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    users = await _people(bot, telegram, 3)
    author, author_row = await _author(bot, telegram)
    flaky, broken = users[0], users[1]
    telegram.fail_next("sendMessage", kind="500", times=1, chat_id=flaky.chat_id)
    telegram.fail_next("sendMessage", kind="502", times=10, chat_id=broken.chat_id)
    announcement_id = await _announce(bot, author_row, {"kind": "everyone"})
    await run_due(bot.application)
    rows = {r.chat_id: r for r in await _deliveries(bot, announcement_id)}
    assert rows[flaky.chat_id].status == DeliveryStatus.PENDING
    assert rows[broken.chat_id].status == DeliveryStatus.PENDING
    # Not due yet: nothing is retried before the backoff is over.
    await run_due(bot.application)
    watched = {str(flaky.chat_id), str(broken.chat_id)}
    calls = telegram.calls_of("sendMessage")
    assert len([c for c in calls if str(c.params.get("chat_id")) in watched]) == 2
    for _ in range(3):
        bot.clock.advance(timedelta(seconds=100))
        await run_due(bot.application)
    rows = {r.chat_id: r for r in await _deliveries(bot, announcement_id)}
    assert rows[flaky.chat_id].status == DeliveryStatus.SENT
    assert rows[flaky.chat_id].attempts == 2
    assert rows[broken.chat_id].status == DeliveryStatus.FAILED
    assert rows[broken.chat_id].attempts == 3
    assert TEXT not in (rows[broken.chat_id].error or "")
    assert "Bad Gateway" in (rows[broken.chat_id].error or "")
    assert telegram.count_to(flaky.chat_id) == 1
    assert telegram.count_to(broken.chat_id) == 0
    report = await author.wait_for(lambda m: "#" in (m.text or ""))
    assert "ส่งไม่สำเร็จ: 1 คน" in (report.text or "")
    assert "Bad Gateway" in (report.text or "")
    async with bot.sessions() as session:
        done = await session.get(Announcement, announcement_id)
        assert done is not None
        assert done.status == AnnouncementStatus.DONE


def twice_in(report: str) -> int:
    """How many copies the report says may have arrived twice (0 when it does not say)."""
    for line in report.splitlines():
        if line.startswith("อาจได้รับซ้ำ: "):
            return int(line.removeprefix("อาจได้รับซ้ำ: ").split()[0])
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("crash", [True, False], ids=["killed", "stopped"])
async def test_restart_in_the_middle_of_a_2000_recipient_broadcast(
    bot: BotHarness, telegram: FakeTelegram, crash: bool
) -> None:
    users = [seed.started(telegram) for _ in range(2000)]
    async with bot.sessions() as session:
        await seed.many_people(
            session, telegram_ids=[u.user_id for u in users], district_code=seed.ZONE3_DISTRICT
        )
    author, author_row = await _author(bot, telegram)
    announcement_id = await _announce(bot, author_row, {"kind": "zones", "values": [3]})
    assert bot.application is not None
    scheduler.announcement_changed(bot.application, announcement_id, None)

    hung = users[300]
    if crash:
        # Telegram never answers this one, so a request is surely in flight at the kill.
        telegram.fail_next("sendMessage", kind="timeout", chat_id=hung.chat_id)
    assert await telegram.world.messages_changed.wait_until(lambda: len(telegram.sent) >= 500, 60)
    if crash:
        # A crash: every send in flight dies with the process, rows are left "sending".
        dispatcher_of(bot.application).kill()
    await bot.stop()
    assert len(telegram.sent) < 2000, "the broadcast finished before the stop"
    await bot.start()
    assert bot.application is not None

    # Within the lease a dead process's claims are left alone (it may be alive); once the
    # lease has run out, they are sent again.
    lease = timedelta(seconds=bot.settings.broadcast.lease_seconds)
    await run_due(bot.application)
    bot.clock.advance(lease + timedelta(seconds=1))
    await run_due(bot.application)
    report = await author.wait_for(lambda m: "#" in (m.text or ""), timeout=60)

    counts = [telegram.count_to(u.chat_id) for u in users]
    rows = await _deliveries(bot, announcement_id)
    resent = sum(1 for r in rows if r.resent)
    duplicated = sum(count - 1 for count in counts if count > 1)
    assert len(rows) == 2000
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert min(counts) == 1, "somebody never received the announcement"
    # Only what was in flight at the moment of the kill can have arrived twice, and the
    # report says how many may have.
    assert duplicated <= resent <= bot.settings.broadcast.in_flight
    text = report.text or ""
    assert "ส่งถึงแล้ว: 2000 คน" in text
    assert "ส่งไม่สำเร็จ: 0 คน" in text
    assert twice_in(text) == resent
    if crash:
        assert resent >= 1
        # The hung request never reached the chat: its copy went out once, after the restart.
        assert telegram.count_to(hung.chat_id) == 1
        assert next(r for r in rows if r.chat_id == hung.chat_id).resent
    else:
        # A clean stop lets the sends in flight finish: everyone has exactly one.
        assert resent == 0
        assert max(counts) == 1
    await bot.settle()
    assert telegram.count_to(author.chat_id) == 1


class StampedCalls(list[ApiCall]):
    """The fake's call log, with the moment each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[int, float] = {}

    def append(self, call: ApiCall) -> None:
        self.at[id(call)] = asyncio.get_running_loop().time()
        super().append(call)


async def test_after_a_429_the_dispatcher_waits_instead_of_hammering(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    # Fault injection, not speed: one send is refused with "retry after 2 s". Whatever the
    # bot's pace, nothing new may go out until the wait is over; only the sends already in
    # flight at that moment may still arrive meanwhile.
    calls = StampedCalls()
    telegram.calls = calls
    users = await _people(bot, telegram, 300)
    _, author_row = await _author(bot, telegram)
    refused_chat = users[20].chat_id
    telegram.fail_next("sendMessage", kind="429", chat_id=refused_chat, retry_after=2)
    announcement_id = await _announce(bot, author_row, {"kind": "everyone"})
    await run_due(bot.application)
    assert all(telegram.count_to(u.chat_id) == 1 for u in users)
    rows = await _deliveries(bot, announcement_id)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    refused = next(c for c in telegram.calls_of("sendMessage") if c.status == 429)
    assert str(refused.params["chat_id"]) == str(refused_chat)
    # A 429 is not a failed attempt.
    assert next(r for r in rows if r.chat_id == refused_chat).attempts == 1
    since = calls.at[id(refused)]
    during_wait = [
        c for c in telegram.calls_of("sendMessage") if since < calls.at[id(c)] < since + 1.9
    ]
    assert len(during_wait) <= bot.settings.broadcast.in_flight
    # Everyone once (the author is one of "everyone"), the refused one again, and the report.
    assert len(telegram.calls_of("sendMessage")) == len(users) + 1 + 1 + 1
