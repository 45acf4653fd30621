"""The outbox's database side (claims, outcomes, taking over a dead process's claims), the
pacer, and the report as the author reads it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.delivery.dispatcher import Pacer, may_have_arrived, retry_after_seconds, short_reason
from bot.delivery.notifier import compose_report
from bot.i18n import translator
from bot.services import announcements, outbox
from bot.services.outbox import Outcome
from storage.database import create_engine, session_factory
from storage.models import Delivery, DeliveryStatus, Person, Role
from tests import outbox_seed as seed

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
ME, OTHER = "host-1-aaaaaa", "host-2-bbbbbb"


async def _announce(session, recipients: int) -> int:
    author = await seed.person(session)
    await seed.many_people(session, telegram_ids=[7_000_000 + n for n in range(recipients - 1)])
    created = await announcements.create(
        session=session,
        access=seed.access(author, Role.ADMIN),
        audience={"kind": "everyone"},
        text="ทดสอบ",
        entities=None,
        send_at=None,
        now=NOW,
    )
    await session.commit()
    return created.id or 0


async def _rows(session) -> list[Delivery]:
    session.expire_all()
    return list((await session.exec(select(Delivery).order_by(Delivery.id))).all())


async def test_claim_takes_due_pending_rows_oldest_first(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 5)
        rows = await _rows(session)
        later = rows[0]
        later.next_attempt_at = NOW + timedelta(minutes=1)
        session.add(later)
        await session.commit()
        first = await outbox.claim(session=session, now=NOW, limit=3, instance=ME)
        assert [c.id for c in first] == [r.id for r in rows[1:4]]
        assert all(c.attempts == 1 for c in first)
        second = await outbox.claim(session=session, now=NOW, limit=3, instance=ME)
        assert [c.id for c in second] == [rows[4].id]
        assert await outbox.claim(session=session, now=NOW, limit=3, instance=ME) == []
        due = await outbox.claim(
            session=session, now=NOW + timedelta(minutes=1), limit=3, instance=OTHER
        )
        assert [c.id for c in due] == [later.id]
        claimed = await _rows(session)
        assert {d.status for d in claimed} == {DeliveryStatus.SENDING}
        assert {d.claimed_at for d in claimed} == {NOW, NOW + timedelta(minutes=1)}
        assert [d.claimed_by for d in claimed] == [OTHER, ME, ME, ME, ME]


async def test_concurrent_claimers_never_take_the_same_row(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 120)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)

        async def worker(name: str) -> list[int]:
            taken: list[int] = []
            while True:
                async with sessions() as own:
                    batch = await outbox.claim(session=own, now=NOW, limit=7, instance=name)
                    await own.commit()
                if not batch:
                    return taken
                taken.extend(c.id for c in batch)

        results = await asyncio.gather(*(worker(f"w{n}") for n in range(5)))
    finally:
        await engine.dispose()
    everything = [i for result in results for i in result]
    assert len(everything) == 120
    assert len(set(everything)) == 120


async def test_outcomes_are_written_together_and_only_for_our_own_claims(
    database_url: str,
) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 6)
        mine = await outbox.claim(session=session, now=NOW, limit=5, instance=ME)
        theirs = await outbox.claim(session=session, now=NOW, limit=5, instance=OTHER)
        blocked_person = mine[2].person_id
        later = NOW + timedelta(seconds=4)
        outcomes = [
            Outcome(mine[0].id, DeliveryStatus.SENT, 1, sent_at=NOW, message_id=11),
            Outcome(mine[1].id, DeliveryStatus.PENDING, 1, next_attempt_at=later, error="502"),
            Outcome(mine[2].id, DeliveryStatus.BLOCKED, 1, person_id=blocked_person, error="x"),
            Outcome(mine[3].id, DeliveryStatus.FAILED, 1, error="BadRequest: no"),
            Outcome(mine[4].id, DeliveryStatus.PENDING, 1, next_attempt_at=later, resent=True),
            # Not ours: another process holds it, so this outcome is not written.
            Outcome(theirs[0].id, DeliveryStatus.SENT, 1, sent_at=NOW, message_id=12),
        ]
        await outbox.record(session=session, outcomes=outcomes, instance=ME, now=NOW)
        await session.commit()
        rows = {r.id: r for r in await _rows(session)}
        assert (rows[mine[0].id].status, rows[mine[0].id].message_id) == ("sent", 11)
        retry = rows[mine[1].id]
        assert (retry.status, retry.next_attempt_at, retry.claimed_by) == ("pending", later, None)
        assert (retry.error, retry.resent) == ("502", False)
        assert rows[mine[2].id].status == "blocked"
        assert rows[mine[3].id].status == "failed"
        assert (rows[mine[4].id].status, rows[mine[4].id].resent) == ("pending", True)
        assert (rows[theirs[0].id].status, rows[theirs[0].id].claimed_by) == ("sending", OTHER)
        person = await session.get(Person, blocked_person, populate_existing=True)
        assert person is not None
        assert person.unreachable_at == NOW


async def test_a_dead_processs_claims_are_sent_again_and_marked(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 4)
        lease = timedelta(seconds=20)
        dead = await outbox.claim(session=session, now=NOW, limit=2, instance=OTHER)
        alive = await outbox.claim(session=session, now=NOW, limit=2, instance=ME)
        # The live process renews its claims; the dead one cannot.
        assert await outbox.renew(session=session, instance=ME, now=NOW + lease) == 2
        # Within the lease a claim may still be in flight: left alone.
        soon = NOW + timedelta(seconds=19)
        assert await outbox.recover(session=session, now=soon, lease=lease, max_attempts=3) == 0
        assert await outbox.next_due(session=session, lease=lease) == NOW + lease + timedelta(
            milliseconds=1
        )
        later = NOW + timedelta(seconds=21)
        assert await outbox.recover(session=session, now=later, lease=lease, max_attempts=3) == 2
        await session.commit()
        rows = {r.id: r for r in await _rows(session)}
        for item in dead:
            row = rows[item.id]
            assert (row.status, row.resent, row.claimed_by, row.next_attempt_at) == (
                "pending",
                True,
                None,
                later,
            )
        assert {rows[a.id].status for a in alive} == {"sending"}
        again = await outbox.claim(session=session, now=later, limit=10, instance=ME)
        assert {c.id for c in again} == {c.id for c in dead}


async def test_a_delivery_interrupted_too_often_is_given_up(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 1)
        lease = timedelta(seconds=20)
        now = NOW
        for _ in range(2):
            await outbox.claim(session=session, now=now, limit=1, instance=OTHER)
            now += timedelta(minutes=1)
            assert await outbox.recover(session=session, now=now, lease=lease, max_attempts=2) in (
                0,
                1,
            )
        [row] = await _rows(session)
        assert (row.status, row.error, row.attempts) == ("failed", outbox.INTERRUPTED, 2)


async def test_the_pacer_keeps_the_rate_and_gives_back_what_was_not_used() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(10.0, burst=3, clock=lambda: now[0], sleep=sleep)
    # A full burst at first, then one every tenth of a second.
    assert await pacer.take(10) == 3
    assert slept == []
    assert await pacer.take(10) == 1
    assert slept == [pytest.approx(0.1)]
    pacer.give_back(1)
    assert await pacer.take(10) == 1
    assert slept == [pytest.approx(0.1)]
    # Idle for a long time: permits accumulate only up to the burst.
    now[0] += 60
    assert await pacer.take(10) == 3
    # Never more than asked for.
    now[0] += 60
    assert await pacer.take(2) == 2
    sent = 0
    start = now[0]
    while now[0] - start < 10:
        sent += await pacer.take(10)
    assert sent <= 10 * 10 + 3


def test_reasons_are_short_and_retry_after_is_read_without_warnings(monkeypatch) -> None:
    import httpx
    from telegram.error import NetworkError, RetryAfter, TimedOut

    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    assert retry_after_seconds(RetryAfter(timedelta(seconds=7))) == 7.0
    assert short_reason(TimedOut()) == "TimedOut: Timed out"
    assert len(short_reason(RuntimeError("x" * 1000))) == 120
    # A request that went out and got no answer may have arrived; one that never left not.
    assert may_have_arrived(TimedOut())
    never_left = TimedOut("Pool timeout")
    never_left.__cause__ = httpx.PoolTimeout("full")
    assert not may_have_arrived(never_left)
    assert not may_have_arrived(NetworkError("Bad Gateway"))


def test_the_report_reads_well_in_both_languages() -> None:
    report = announcements.Report(
        announcement_id=7,
        delivered=1995,
        blocked=3,
        failed=2,
        reasons={"interrupted": 1, "NetworkError: Bad Gateway": 1},
        seconds=125,
        twice=4,
    )
    values = report.notice().values
    assert compose_report(translator("en"), values).splitlines() == [
        "Report on announcement #7",
        "Delivered: 1995",
        "Blocked the bot: 3",
        "Failed: 2",
        "  • network or Telegram server error (NetworkError: Bad Gateway): 1",
        "  • the bot stopped while sending too many times; given up: 1",
        "May have received it twice: 4 (sent again after the bot stopped mid-send or Telegram "
        "did not answer)",
        "Took 2 min",
    ]
    thai = compose_report(translator("th"), values)
    assert "ส่งถึงแล้ว: 1995 คน" in thai
    assert "อาจได้รับซ้ำ: 4 คน" in thai
    assert thai.endswith("ใช้เวลา 2 นาที")
    # Nothing sent twice: no line about it.
    once = announcements.Report(**{**report.__dict__, "twice": 0}).notice().values
    assert "twice" not in compose_report(translator("en"), once)
