"""Three replicas on one PostgreSQL database behave as one bot, and losing one loses nothing.

Real `python -m bot run` processes in webhook mode behind a round-robin proxy; the fake Telegram
delivers every update to the proxy, as Telegram would to a load balancer. A crowd registers
and checks in at once; in the middle one replica is killed (SIGKILL) and, later, another is
stopped gracefully (SIGTERM) and both come back: a rolling restart under load.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.services import headcount
from bot.services.access import Access
from storage.database import create_engine, session_factory
from storage.models import CheckIn, InboxUpdate, Person, Role
from tests.database import create_pg_scratch_database, create_schema, drop_pg_scratch
from tests.factories import make_event
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as Chat
from tests.replicas import ReplicaSet

CROWD = 300
REPLY_TIMEOUT = 120.0  # a person whose update sat on the killed replica waits for its lease
WELCOME = "ลงทะเบียนเรียบร้อยแล้ว"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own, migrated (replicas need PostgreSQL)."""
    url = await create_pg_scratch_database()
    try:
        await create_schema(url)
        yield url
    finally:
        await drop_pg_scratch(url)


async def _reply(person: Chat) -> str:
    return (await person.next_reply(timeout=REPLY_TIMEOUT)).text or ""


async def journey(person: Chat, name: str, code: str, registered: asyncio.Queue[int]) -> None:
    """A volunteer registers from scratch, then checks in with the code on the screen."""
    await person.send("/start")
    greeting = await person.next_reply(timeout=REPLY_TIMEOUT)
    await person.press("ภาษาไทย", message=greeting)
    notice = await person.next_reply(timeout=REPLY_TIMEOUT)
    await person.press("✅ ยินยอม", message=notice)
    await _reply(person)  # thanks
    who = await person.next_reply(timeout=REPLY_TIMEOUT)
    await person.press("อาสาสมัครแรงงาน", message=who)
    await _reply(person)  # the name question
    await person.send(name)
    await _reply(person)  # the phone question
    await person.send("081 234 5678")
    await _reply(person)  # saved
    await _reply(person)  # the district question
    await person.send("คลองเตย")
    role = await person.next_reply(timeout=REPLY_TIMEOUT)
    await person.press("ประธานโซน", message=role)
    summary = await person.next_reply(timeout=REPLY_TIMEOUT)
    await person.press("✅ ยืนยัน", message=summary)
    await person.wait_for(lambda m: WELCOME in (m.text or ""), timeout=REPLY_TIMEOUT)
    registered.put_nowait(person.user_id)
    await person.send(f"/checkin {code}")
    await person.wait_for(lambda m: (m.text or "").startswith("✅ เช็กอิน"), timeout=REPLY_TIMEOUT)


async def test_a_rolling_restart_under_a_crowd_loses_nothing_and_keeps_order(
    telegram: FakeTelegram, pg_url: str, tmp_path: Path
) -> None:
    telegram.set_rate_limits(enabled=False)
    engine = create_engine(pg_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            event = await make_event(session, now=datetime.now(UTC))
        async with ReplicaSet(telegram, pg_url, tmp_path, count=3) as replicas:
            people = [telegram.person(first_name=f"P{n}") for n in range(CROWD)]
            registered: asyncio.Queue[int] = asyncio.Queue()
            crowd = asyncio.gather(
                *(journey(p, f"อาสา คนที่ {n}", event.code, registered) for n, p in enumerate(people))
            )
            stop_times: list[float] = []

            async def chaos() -> None:
                for _ in range(CROWD // 3):
                    await registered.get()
                replicas.replicas[0].kill()  # a lost machine: no goodbye
                for _ in range(CROWD // 3):
                    await registered.get()
                stop_times.append(await replicas.replicas[1].terminate())
                for replica in replicas.replicas[:2]:
                    replica.start()
                    await replica.ready()

            try:
                await asyncio.wait_for(asyncio.gather(crowd, chaos()), timeout=900)
            except BaseException:
                print(replicas.logs())
                raise

        async with sessions() as session:
            people_rows = (await session.exec(select(Person))).all()
            checkins = (await session.exec(select(CheckIn))).all()
            inbox = (
                await session.exec(select(InboxUpdate).order_by(col(InboxUpdate.update_id)))
            ).all()
            count = await headcount.headcount(
                session=session,
                access=Access(
                    person_id=None, roles=frozenset({Role.ADMIN}), coordinator_zones=frozenset()
                ),
                event_id=event.id or 0,
            )
    finally:
        await engine.dispose()

    # Everyone registered once and checked in once.
    ids = {p.user_id for p in people}
    assert sorted(p.telegram_id for p in people_rows) == sorted(ids)
    assert len(checkins) == CROWD
    assert len({c.person_id for c in checkins}) == CROWD
    # Each person's updates were processed one at a time, in the order they were sent.
    done_order: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for row in inbox:
        assert row.status == "done", row
        assert row.done_at is not None
        done_order[row.person_key].append((row.done_at, row.update_id))
    for person_key, finished in done_order.items():
        assert [u for _, u in sorted(finished)] == sorted(u for _, u in finished), person_key
    # Every reply arrived once: the welcome and the check-in, for each person.
    for person in people:
        texts = [m.text or "" for m in person.messages]
        assert sum(WELCOME in t for t in texts) == 1, texts
        assert sum(t.startswith("✅ เช็กอิน") for t in texts) == 1, texts
    # The graceful stop finished what it had within the 10 seconds allowed.
    assert len(stop_times) == 1
    assert stop_times[0] < 10, stop_times
    assert count.arrived == CROWD
    assert count.groups.get("volunteers") == CROWD
